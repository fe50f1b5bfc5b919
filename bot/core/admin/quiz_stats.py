"""Quiz statistics for the dashboard: attempts per day, hardest questions, topics, channels, leaderboard, reviews.

Each function takes keyword-only `session` and `period` (UTC days, optional platform, as in `bot.core.admin.usage`) and
returns rows keyed by the columns `bot.web.dashboard.quiz_panels` declares. The aggregates come from
`bot.db.quiz_stats_repo`; only the small per-row extras (common wrong answers, day streaks) are finished here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.core.admin.usage import Period, share
from bot.core.learning.progress import day_streak
from bot.db import quiz_stats_repo as repo
from knowledge.grading import InvalidAnswer
from knowledge.quiz_bank import QuizItem, presented
from knowledge.quiz_kinds import kind_of

COMMON_WRONG = 3  # wrong answers listed per question
WRONG_TEXT = 80  # characters kept of each


def attempts_per_day(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """One row per day of the period, days without attempts included."""
    counts = repo.attempts_per_day(session=session, span=period.span())
    result = []
    for each in period.each_day():
        attempts, correct, people = counts.get(each.isoformat(), (0, 0, 0))
        result.append({"day": each.isoformat(), "attempts": attempts, "correct": correct,
                       "wrong": attempts - correct, "accuracy": share(correct, attempts), "people": people})
    return result


def by_question(*, session: Session, period: Period, prompts: Callable[[str], str | None] | None = None,
                items: Callable[[str], QuizItem | None] | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Per item: attempts, share answered right and the commonest wrong answers (by the text of the choice
    picked, read through the order it was shown in); hardest first.

    `prompts` gives an item's question text and `items` the item itself (the dashboard passes the live quiz
    bank's); without them, or for an item the bank no longer has, the question is empty and answers are raw.
    """
    rows = repo.hardest_items(session=session, span=period.span(), limit=limit)
    wrong: dict[str, Counter[str]] = defaultdict(Counter)
    item_ids = [row[0] for row in rows]
    if item_ids:
        for item_id, answer, order in repo.wrong_answers(session=session, span=period.span(), item_ids=item_ids):
            item = items(item_id) if items else None
            text = " ".join(answer_text(item, answer or "", order).split())
            if text:
                wrong[item_id][text[:WRONG_TEXT]] += 1
    return [{"item_id": item_id, "question": (prompts(item_id) if prompts else None) or "", "topic": topic,
             "attempts": count,
             "share_correct": share(correct, count),
             "common_wrong": "; ".join(f"{text} ({n})" for text, n in wrong[item_id].most_common(COMMON_WRONG))}
            for item_id, topic, count, correct in rows]


def answer_text(item: QuizItem | None, answer: str, order: list[int] | None) -> str:
    """What a stored answer said: for a choice, the text of the choice it named as shown (a button stores the
    number shown, a typed answer the letter); for true/false, True or False; otherwise the answer itself."""
    if item is None:
        return answer
    try:
        return kind_of(item).said(presented(item, order), answer)
    except InvalidAnswer:
        return answer


def by_topic(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """Per topic: attempts, accuracy and people, busiest first."""
    rows = repo.by_topic(session=session, span=period.span())
    return [{"topic": topic, "attempts": count, "accuracy": share(correct, count), "people": people}
            for topic, count, correct, people in rows]


def by_channel(*, session: Session, period: Period, limit: int = 100) -> list[dict[str, Any]]:
    """Per channel where people answered: attempts, accuracy, people, last answer; busiest first."""
    rows = repo.by_channel(session=session, span=period.span(), limit=limit)
    return [{"platform": platform, "channel": name or channel_id, "attempts": count,
             "accuracy": share(correct, count), "people": people, "last_active": last}
            for platform, name, channel_id, count, correct, people, last in rows]


def leaderboard(*, session: Session, period: Period, limit: int = 50) -> list[dict[str, Any]]:
    """People ranked by correct answers in the period; streak = consecutive UTC days with an answer, to its end."""
    rows = repo.ranking(session=session, span=period.span(), limit=limit)
    days: dict[int, set[date]] = defaultdict(set)
    if rows:
        for user_id, day in repo.answer_days(session=session, span=period.span(), user_ids=[r[0] for r in rows]):
            days[user_id].add(day)
    return [{"rank": rank, "platform": platform, "person": name or platform_id, "score": score,
             "attempts": count, "accuracy": share(score, count), "streak": day_streak(days[user_id], period.end)}
            for rank, (user_id, platform, name, platform_id, score, count) in enumerate(rows, start=1)]


def review_backlog(*, session: Session, period: Period, now: datetime | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
    """Per person with reviews due within a week: due now, due this week, days the oldest is overdue.

    A backlog is about now, not the period; the period's platform still filters.
    """
    now = now or datetime.now(UTC)
    rows = repo.reviews_due(session=session, now=now, until=now + timedelta(days=7), platform=period.platform)
    result = []
    for platform, name, platform_id, due_now, due_week, oldest in rows:
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        overdue = max(0, (now - oldest).days) if oldest is not None and oldest <= now else 0
        result.append({"platform": platform, "person": name or platform_id, "due_now": due_now,
                       "due_this_week": due_week, "overdue_days": overdue})
    result.sort(key=lambda r: (-r["due_now"], -r["due_this_week"], r["person"]))
    return result[:limit]
