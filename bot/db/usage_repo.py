"""Aggregate queries over the questions, feedback, users and channels tables for the dashboard's usage panels.

Every function takes a `Span` (a UTC time range, optionally one platform) and returns plain rows, portable between
SQLite and PostgreSQL; `bot.core.admin.usage` shapes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, distinct, func, select
from sqlalchemy.orm import Session

from bot.db.base import count_if
from bot.db.models import Channel, Feedback, Question, User

_Ts = TypeVarTuple("_Ts")
Rows = list[Row[*tuple[Any, ...]]]  # the columns each function's docstring lists


@dataclass(frozen=True)
class Span:
    """The instants from `first` up to (not including) `after`, optionally one platform only."""

    first: datetime
    after: datetime
    platform: str | None = None


def utc_day(session: Session, moment: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, on SQLite (stored as UTC text) and PostgreSQL alike."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", moment))
    return func.date(moment)


def _in_span(query: Select[*_Ts], span: Span) -> Select[*_Ts]:
    query = query.where(Question.created_at >= span.first, Question.created_at < span.after)
    if span.platform:
        query = query.where(Question.platform == span.platform)
    return query


def _answered() -> ColumnElement[int]:
    return count_if(Question.status == "answered")


def question_totals(*, session: Session, span: Span) -> tuple[int, int, int, int]:
    """Questions asked, answered, distinct people and distinct channels."""
    asked, answered, people, channels = session.execute(_in_span(
        select(func.count(Question.id), _answered(), func.count(distinct(Question.user_id)),
               func.count(distinct(Question.channel_id))), span)).one()
    return asked, answered, people, channels


def feedback_totals(*, session: Session, span: Span) -> tuple[int, int]:
    """Helpful and not-helpful votes on the span's questions."""
    helpful, not_helpful = session.execute(_in_span(
        select(count_if(Feedback.vote > 0), count_if(Feedback.vote < 0))
        .select_from(Feedback).join(Question, Question.id == Feedback.question_id), span)).one()
    return helpful, not_helpful


def questions_per_day(*, session: Session, span: Span) -> dict[str, tuple[int, int]]:
    """ISO day -> (asked, answered), for the days that have questions."""
    day = utc_day(session, Question.created_at).label("day")
    rows = session.execute(_in_span(select(day, func.count(Question.id), _answered()), span).group_by(day))
    return {str(d)[:10]: (asked, answered) for d, asked, answered in rows}


def questions_by_platform(*, session: Session, span: Span) -> Rows:
    """(platform, asked, answered, people), busiest first."""
    return list(session.execute(_in_span(
        select(Question.platform, func.count(Question.id), _answered(), func.count(distinct(Question.user_id))),
        span).group_by(Question.platform).order_by(func.count(Question.id).desc(), Question.platform)))


def top_entries(*, session: Session, span: Span, limit: int) -> Rows:
    """(entry id, times answered, helpful, not helpful, last asked) of the entries that answered most often."""
    answered = func.count(distinct(Question.id))
    return list(session.execute(_in_span(
        select(Question.entry_id, answered, count_if(Feedback.vote > 0), count_if(Feedback.vote < 0),
               func.max(Question.created_at))
        .outerjoin(Feedback, Feedback.question_id == Question.id)
        .where(Question.status == "answered", Question.entry_id.is_not(None)), span)
        .group_by(Question.entry_id).order_by(answered.desc(), Question.entry_id).limit(limit)))


def channel_activity(*, session: Session, span: Span, limit: int) -> Rows:
    """(platform, name, platform channel id, asked, answered, people, last asked) per channel, busiest first."""
    asked = func.count(Question.id)
    return list(session.execute(_in_span(
        select(Channel.platform, Channel.name, Channel.platform_channel_id, asked, _answered(),
               func.count(distinct(Question.user_id)), func.max(Question.created_at))
        .join(Channel, Channel.id == Question.channel_id), span)
        .group_by(Channel.id, Channel.platform, Channel.name, Channel.platform_channel_id)
        .order_by(asked.desc(), Channel.id).limit(limit)))


def people_activity(*, session: Session, span: Span, limit: int) -> Rows:
    """(platform, display name, platform user id, asked, answered, channels, last asked) per person, most active
    first."""
    asked = func.count(Question.id)
    return list(session.execute(_in_span(
        select(User.platform, User.display_name, User.platform_user_id, asked, _answered(),
               func.count(distinct(Question.channel_id)), func.max(Question.created_at))
        .join(User, User.id == Question.user_id), span)
        .group_by(User.id, User.platform, User.display_name, User.platform_user_id)
        .order_by(asked.desc(), User.id).limit(limit)))


def platforms_seen(*, session: Session) -> list[str]:
    """Every platform any question came from."""
    return list(session.scalars(select(Question.platform).distinct().order_by(Question.platform)))


def declined_questions(*, session: Session, span: Span, limit: int) -> list[Question]:
    """The questions the bot declined in the span, newest first."""
    return list(session.scalars(_in_span(select(Question).where(Question.status != "answered"), span)
                                .order_by(Question.created_at.desc(), Question.id.desc()).limit(limit)))
