"""Quiz statistics: the tables and charts of the dashboard's quiz section, rows from `bot.core.admin.quiz_stats`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core.admin import quiz_stats
from bot.web.dashboard.tables import Chart, Column, Context, TableSpec, register
from knowledge.quiz_bank import QuizItem

# table name -> the function of quiz_stats giving its rows (keyword-only `session` and `period`)
_FUNCTIONS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "quiz-attempts-per-day": quiz_stats.attempts_per_day,
    "quiz-difficulty": quiz_stats.by_question,
    "quiz-topics": quiz_stats.by_topic,
    "quiz-channels": quiz_stats.by_channel,
    "quiz-leaderboard": quiz_stats.leaderboard,
    "quiz-review-backlog": quiz_stats.review_backlog,
}


def _rows(name: str) -> Callable[[Context], list[dict[str, Any]]]:
    def rows(ctx: Context) -> list[dict[str, Any]]:
        extra = {"prompts": _prompts(ctx), "items": _items(ctx)} if name == "quiz-difficulty" else {}
        return list(_FUNCTIONS[name](session=ctx.session, period=ctx.period, **extra))

    return rows


def _prompts(ctx: Context) -> Callable[[str], str | None]:
    """An item id's question text from the runtime's quiz bank (None for an item it no longer has)."""
    item_by_id = _items(ctx)

    def prompt(item_id: str) -> str | None:
        item = item_by_id(item_id)
        return item.prompt if item is not None else None

    return prompt


def _items(ctx: Context) -> Callable[[str], QuizItem | None]:
    """An item by id from the runtime's quiz bank (None for one it no longer has)."""
    features = ctx.runtime.quizzes
    assert features is not None, "build_runtime installs the quiz features"
    get: Callable[[str], QuizItem | None] = features.bank.snapshot().get
    return get


def _quiz(name: str, title: str, columns: tuple[Column, ...], *charts: Chart, description: str = "") -> TableSpec:
    return TableSpec(name, title, "quizzes", columns, _rows(name), charts, description)


register(
    _quiz("quiz-attempts-per-day", "Attempts and accuracy per day", (
        Column("day", "Day"), Column("attempts", "Attempts", "int"), Column("correct", "Correct", "int"),
        Column("wrong", "Wrong", "int"), Column("accuracy", "Accuracy", "share"), Column("people", "People", "int"),
    ), Chart("bars", "day", ("correct", "wrong"), title="Attempts"),
        Chart("line", "day", ("accuracy",), percent=True, title="Accuracy"), description="Quiz answers per UTC day."),
    _quiz("quiz-difficulty", "Per question: difficulty", (
        Column("item_id", "Item"), Column("question", "Question"), Column("topic", "Topic"),
        Column("attempts", "Attempts", "int"), Column("share_correct", "Correct", "share"),
        Column("common_wrong", "Common wrong answers"),
    ), Chart("hbars", "item_id", ("share_correct",), percent=True), description="Hardest questions first."),
    _quiz("quiz-topics", "Per topic", (
        Column("topic", "Topic"), Column("attempts", "Attempts", "int"), Column("accuracy", "Accuracy", "share"),
        Column("people", "People", "int"),
    ), Chart("hbars", "topic", ("accuracy",), percent=True)),
    _quiz("quiz-channels", "Per channel progress", (
        Column("platform", "Platform"), Column("channel", "Channel"), Column("attempts", "Attempts", "int"),
        Column("accuracy", "Accuracy", "share"), Column("people", "People", "int"),
        Column("last_active", "Last active", "datetime"),
    )),
    _quiz("quiz-leaderboard", "Leaderboard", (
        Column("rank", "#", "int"), Column("platform", "Platform"), Column("person", "Person"),
        Column("score", "Score", "int"), Column("attempts", "Attempts", "int"), Column("accuracy", "Accuracy", "share"),
        Column("streak", "Streak", "int"),
    )),
    _quiz("quiz-review-backlog", "Review backlog", (
        Column("platform", "Platform"), Column("person", "Person"), Column("due_now", "Due now", "int"),
        Column("due_this_week", "Due this week", "int"), Column("overdue_days", "Oldest overdue (days)", "int"),
    # Charted by what is due this week (which includes what is due now): every row of the table has some, so
    # the chart never says "no data" above rows.
    ), Chart("hbars", "person", ("due_this_week",)),
        description="Reviews due per person (spaced repetition), now and within a week."),
)
