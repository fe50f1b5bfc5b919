"""Quiz statistics: the tables and charts of the dashboard's quiz section, declared ahead of the quiz feature.

SEAM (issue 5). The layouts below are final; their rows come from `bot.core.admin.quiz_stats`, which the quiz
branch provides. Until it is merged and migrated (`sources.quizzes_enabled`), the section shows an empty state and
the API and export answer 404 for these names. Wiring after the merge: give `bot.core.admin.quiz_stats` the functions
named in `_FUNCTIONS` (keyword-only `session` and `period`, returning dicts with the column keys), or point
`_FUNCTIONS` at whatever it offers instead.
"""

from __future__ import annotations

from typing import Any

from bot.web.dashboard.sources import optional_module, quizzes_enabled
from bot.web.dashboard.tables import Chart, Column, Context, TableSpec, register

# table name -> function of bot.core.admin.quiz_stats giving its rows (TODO(issue 5): confirm the names at merge)
_FUNCTIONS = {
    "quiz-attempts-per-day": "attempts_per_day",
    "quiz-difficulty": "by_question",
    "quiz-topics": "by_topic",
    "quiz-channels": "by_channel",
    "quiz-leaderboard": "leaderboard",
    "quiz-review-backlog": "review_backlog",
}


def _rows(name: str) -> Any:
    def rows(ctx: Context) -> list[dict[str, Any]]:
        module = optional_module("bot.core.admin.quiz_stats")
        if module is None:
            return []
        extra = {"prompts": _prompts(ctx), "items": _items(ctx)} if name == "quiz-difficulty" else {}
        return list(getattr(module, _FUNCTIONS[name])(session=ctx.session, period=ctx.period, **extra))

    return rows


def _prompts(ctx: Context) -> Any:
    """An item id's question text from the runtime's quiz bank (None for an item it no longer has)."""
    features = getattr(ctx.runtime, "quizzes", None)
    if features is None:
        return lambda item_id: None
    snapshot = features.bank.snapshot()

    def prompt(item_id: str) -> str | None:
        item = snapshot.get(item_id)
        return item.prompt if item is not None else None

    return prompt


def _items(ctx: Context) -> Any:
    """An item by id from the runtime's quiz bank (None for one it no longer has)."""
    features = getattr(ctx.runtime, "quizzes", None)
    if features is None:
        return lambda item_id: None
    return features.bank.snapshot().get


def _quiz(name: str, title: str, columns: tuple[Column, ...], *charts: Chart, description: str = "") -> TableSpec:
    return TableSpec(name, title, "quizzes", columns, _rows(name), charts, description, available=quizzes_enabled)


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
