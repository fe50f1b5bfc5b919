"""Quiz statistics for the dashboard: attempts per day, hardest questions, topics, channels, leaderboard, reviews.

Each function takes keyword-only `session` and `period` (UTC days, optional platform, as in `bot.core.admin.usage`) and
returns rows keyed by the columns `bot.web.dashboard.quiz_panels` declares. Plain SQL aggregates, portable between
SQLite and PostgreSQL; only the small per-row extras (common wrong answers, day streaks) are finished in Python.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, distinct, func, select
from sqlalchemy.orm import Session

from bot.core.admin.usage import Period, share
from bot.core.learning.progress import day_streak
from bot.db.models import Channel, User
from bot.db.quiz_models import QuizAttempt, ReviewState
from knowledge.grading import InvalidAnswer, parse_choice, parse_true_false
from knowledge.quiz_bank import QuizItem, presented

COMMON_WRONG = 3  # wrong answers listed per question
WRONG_TEXT = 80  # characters kept of each


def _in_period(query: Select[Any], period: Period) -> Select[Any]:
    """Attempts answered in the period (and by people of its platform)."""
    first, after = period.bounds()
    query = query.where(QuizAttempt.answered_at >= first, QuizAttempt.answered_at < after)
    if period.platform:
        query = query.where(QuizAttempt.user_id.in_(select(User.id).where(User.platform == period.platform)))
    return query


def _correct() -> ColumnElement[int]:
    return func.coalesce(func.sum(case((QuizAttempt.correct.is_(True), 1), else_=0)), 0)


def _day(session: Session) -> ColumnElement[Any]:
    """The UTC calendar day of an attempt, on SQLite (stored as UTC text) and PostgreSQL alike."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", QuizAttempt.answered_at))
    return func.date(QuizAttempt.answered_at)


def attempts_per_day(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """One row per day of the period, days without attempts included."""
    day = _day(session).label("day")
    rows = session.execute(_in_period(
        select(day, func.count(QuizAttempt.id), _correct(), func.count(distinct(QuizAttempt.user_id))), period)
        .group_by(day))
    counts = {str(d)[:10]: (attempts, correct, people) for d, attempts, correct, people in rows}
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
    attempts = func.count(QuizAttempt.id)
    rows = session.execute(_in_period(
        select(QuizAttempt.item_id, func.max(QuizAttempt.topic), attempts, _correct()), period)
        .group_by(QuizAttempt.item_id)
        .order_by((_correct() * 1.0 / attempts).asc(), attempts.desc(), QuizAttempt.item_id).limit(limit)).all()
    wrong: dict[str, Counter[str]] = defaultdict(Counter)
    item_ids = [row[0] for row in rows]
    if item_ids:
        answers = session.execute(_in_period(
            select(QuizAttempt.item_id, QuizAttempt.answer, QuizAttempt.choice_order)
            .where(QuizAttempt.item_id.in_(item_ids), QuizAttempt.correct.is_(False),
                   QuizAttempt.skipped.is_(False)), period))
        for item_id, answer, order in answers:
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
    if item is None or item.kind == "free_text":
        return answer
    try:
        if item.kind == "choice":
            return presented(item, order).choices[parse_choice(presented(item, order), answer)].text
        return "True" if parse_true_false(answer) else "False"
    except InvalidAnswer:
        return answer


def by_topic(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """Per topic: attempts, accuracy and people, busiest first."""
    attempts = func.count(QuizAttempt.id)
    rows = session.execute(_in_period(
        select(QuizAttempt.topic, attempts, _correct(), func.count(distinct(QuizAttempt.user_id))), period)
        .group_by(QuizAttempt.topic).order_by(attempts.desc(), QuizAttempt.topic))
    return [{"topic": topic, "attempts": count, "accuracy": share(correct, count), "people": people}
            for topic, count, correct, people in rows]


def by_channel(*, session: Session, period: Period, limit: int = 100) -> list[dict[str, Any]]:
    """Per channel where people answered: attempts, accuracy, people, last answer; busiest first."""
    attempts = func.count(QuizAttempt.id)
    rows = session.execute(_in_period(
        select(Channel.platform, Channel.name, Channel.platform_channel_id, attempts, _correct(),
               func.count(distinct(QuizAttempt.user_id)), func.max(QuizAttempt.answered_at))
        .join(Channel, Channel.id == QuizAttempt.channel_id), period)
        .group_by(Channel.id, Channel.platform, Channel.name, Channel.platform_channel_id)
        .order_by(attempts.desc(), Channel.id).limit(limit))
    return [{"platform": platform, "channel": name or channel_id, "attempts": count,
             "accuracy": share(correct, count), "people": people, "last_active": last}
            for platform, name, channel_id, count, correct, people, last in rows]


def leaderboard(*, session: Session, period: Period, limit: int = 50) -> list[dict[str, Any]]:
    """People ranked by correct answers in the period; streak = consecutive UTC days with an answer, to its end."""
    correct = _correct()
    rows = session.execute(_in_period(
        select(User.id, User.platform, User.display_name, User.platform_user_id, correct,
               func.count(QuizAttempt.id))
        .join(User, User.id == QuizAttempt.user_id), period)
        .group_by(User.id, User.platform, User.display_name, User.platform_user_id)
        .order_by(correct.desc(), func.count(QuizAttempt.id).asc(), User.id).limit(limit)).all()
    days: dict[int, set[date]] = defaultdict(set)
    if rows:
        day = _day(session)
        for user_id, each in session.execute(_in_period(
                select(QuizAttempt.user_id, day).where(QuizAttempt.user_id.in_([r[0] for r in rows])), period)
                .group_by(QuizAttempt.user_id, day)):
            days[user_id].add(date.fromisoformat(str(each)[:10]))
    return [{"rank": rank, "platform": platform, "person": name or platform_id, "score": score,
             "attempts": count, "accuracy": share(score, count), "streak": day_streak(days[user_id], period.end)}
            for rank, (user_id, platform, name, platform_id, score, count) in enumerate(rows, start=1)]


def review_backlog(*, session: Session, period: Period, now: datetime | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
    """Per person with reviews due within a week: due now, due this week, days the oldest is overdue.

    A backlog is about now, not the period; the period's platform still filters.
    """
    now = now or datetime.now(UTC)
    week = now + timedelta(days=7)
    query = (select(User.platform, User.display_name, User.platform_user_id,
                    func.coalesce(func.sum(case((ReviewState.due <= now, 1), else_=0)), 0),
                    func.count(ReviewState.id), func.min(ReviewState.due))
             .join(User, User.id == ReviewState.user_id).where(ReviewState.due <= week)
             .group_by(User.id, User.platform, User.display_name, User.platform_user_id))
    if period.platform:
        query = query.where(User.platform == period.platform)
    rows = session.execute(query).all()
    result = []
    for platform, name, platform_id, due_now, due_week, oldest in rows:
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        overdue = max(0, (now - oldest).days) if oldest is not None and oldest <= now else 0
        result.append({"platform": platform, "person": name or platform_id, "due_now": due_now,
                       "due_this_week": due_week, "overdue_days": overdue})
    result.sort(key=lambda r: (-r["due_now"], -r["due_this_week"], r["person"]))
    return result[:limit]
