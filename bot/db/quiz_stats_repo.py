"""Aggregate queries over quiz attempts and review states for the dashboard's quiz panels.

Every function takes a `Span` (attempts answered in a UTC time range, by people of one platform if it names one) and
returns plain rows, portable between SQLite and PostgreSQL; `bot.core.admin.quiz_stats` shapes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, distinct, func, select
from sqlalchemy.orm import Session

from bot.db.base import count_if
from bot.db.models import Channel, User
from bot.db.quiz_models import QuizAttempt, ReviewState
from bot.db.usage_repo import Rows, Span, utc_day

_Ts = TypeVarTuple("_Ts")


def _in_span(query: Select[*_Ts], span: Span) -> Select[*_Ts]:
    query = query.where(QuizAttempt.answered_at >= span.first, QuizAttempt.answered_at < span.after)
    if span.platform:
        query = query.where(QuizAttempt.user_id.in_(select(User.id).where(User.platform == span.platform)))
    return query


def _correct() -> ColumnElement[int]:
    return count_if(QuizAttempt.correct.is_(True))


def attempts_per_day(*, session: Session, span: Span) -> dict[str, tuple[int, int, int]]:
    """ISO day -> (attempts, correct, people), for the days that have attempts."""
    day = utc_day(session, QuizAttempt.answered_at).label("day")
    rows = session.execute(_in_span(
        select(day, func.count(QuizAttempt.id), _correct(), func.count(distinct(QuizAttempt.user_id))), span)
        .group_by(day))
    return {str(d)[:10]: (attempts, correct, people) for d, attempts, correct, people in rows}


def hardest_items(*, session: Session, span: Span, limit: int) -> Rows:
    """(item id, topic, attempts, correct) per item, lowest share correct first."""
    attempts = func.count(QuizAttempt.id)
    return list(session.execute(_in_span(
        select(QuizAttempt.item_id, func.max(QuizAttempt.topic), attempts, _correct()), span)
        .group_by(QuizAttempt.item_id)
        .order_by((_correct() * 1.0 / attempts).asc(), attempts.desc(), QuizAttempt.item_id).limit(limit)).all())


def wrong_answers(*, session: Session, span: Span, item_ids: Sequence[str]) -> Rows:
    """(item id, answer, choice order shown) of every wrong, unskipped attempt at these items."""
    return list(session.execute(_in_span(
        select(QuizAttempt.item_id, QuizAttempt.answer, QuizAttempt.choice_order)
        .where(QuizAttempt.item_id.in_(item_ids), QuizAttempt.correct.is_(False),
               QuizAttempt.skipped.is_(False)), span)))


def by_topic(*, session: Session, span: Span) -> Rows:
    """(topic, attempts, correct, people), busiest first."""
    attempts = func.count(QuizAttempt.id)
    return list(session.execute(_in_span(
        select(QuizAttempt.topic, attempts, _correct(), func.count(distinct(QuizAttempt.user_id))), span)
        .group_by(QuizAttempt.topic).order_by(attempts.desc(), QuizAttempt.topic)))


def by_channel(*, session: Session, span: Span, limit: int) -> Rows:
    """(platform, name, platform channel id, attempts, correct, people, last answer) per channel, busiest first."""
    attempts = func.count(QuizAttempt.id)
    return list(session.execute(_in_span(
        select(Channel.platform, Channel.name, Channel.platform_channel_id, attempts, _correct(),
               func.count(distinct(QuizAttempt.user_id)), func.max(QuizAttempt.answered_at))
        .join(Channel, Channel.id == QuizAttempt.channel_id), span)
        .group_by(Channel.id, Channel.platform, Channel.name, Channel.platform_channel_id)
        .order_by(attempts.desc(), Channel.id).limit(limit)))


def ranking(*, session: Session, span: Span, limit: int) -> Rows:
    """(user id, platform, display name, platform user id, correct, attempts), most correct first."""
    correct = _correct()
    return list(session.execute(_in_span(
        select(User.id, User.platform, User.display_name, User.platform_user_id, correct,
               func.count(QuizAttempt.id))
        .join(User, User.id == QuizAttempt.user_id), span)
        .group_by(User.id, User.platform, User.display_name, User.platform_user_id)
        .order_by(correct.desc(), func.count(QuizAttempt.id).asc(), User.id).limit(limit)).all())


def answer_days(*, session: Session, span: Span, user_ids: Sequence[int]) -> list[tuple[int, date]]:
    """(user id, UTC day) for each day each of these people answered."""
    day = utc_day(session, QuizAttempt.answered_at)
    rows = session.execute(_in_span(select(QuizAttempt.user_id, day).where(QuizAttempt.user_id.in_(user_ids)), span)
                           .group_by(QuizAttempt.user_id, day))
    return [(user_id, date.fromisoformat(str(each)[:10])) for user_id, each in rows]


def reviews_due(*, session: Session, now: datetime, until: datetime, platform: str | None) -> Rows:
    """(platform, display name, platform user id, due now, due by `until`, earliest due) per person with a review
    due by `until`."""
    query = (select(User.platform, User.display_name, User.platform_user_id, count_if(ReviewState.due <= now),
                    func.count(ReviewState.id), func.min(ReviewState.due))
             .join(User, User.id == ReviewState.user_id).where(ReviewState.due <= until)
             .group_by(User.id, User.platform, User.display_name, User.platform_user_id))
    if platform:
        query = query.where(User.platform == platform)
    return list(session.execute(query).all())
