"""How people use the bot, from the questions, feedback, users and channels tables: the dashboard's overview."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, distinct, func, select
from sqlalchemy.orm import Session

from bot.db.models import Channel, Feedback, Question, User

MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole UTC days from `start` to `end` (both included), optionally one platform only."""

    start: date
    end: date
    platform: str | None = None

    @classmethod
    def last_days(cls, days: int, platform: str | None = None, today: date | None = None) -> Period:
        """The `days` days up to and including today."""
        today = today or datetime.now(UTC).date()
        days = max(1, min(days, MAX_DAYS))
        return cls(today - timedelta(days=days - 1), today, platform or None)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """[first instant, instant after the last day) in UTC."""
        return (datetime.combine(self.start, time(), UTC), datetime.combine(self.end + timedelta(days=1), time(), UTC))

    def each_day(self) -> Iterator[date]:
        """Every day of the period, in order."""
        for offset in range(self.days):
            yield self.start + timedelta(days=offset)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days,
                "platform": self.platform}


def _in_period(query: Select[Any], period: Period) -> Select[Any]:
    first, after = period.bounds()
    query = query.where(Question.created_at >= first, Question.created_at < after)
    if period.platform:
        query = query.where(Question.platform == period.platform)
    return query


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _answered() -> ColumnElement[int]:
    return _count_if(Question.status == "answered")


def _day(session: Session) -> ColumnElement[Any]:
    """The UTC calendar day of a question, on SQLite (stored as UTC text) and PostgreSQL alike."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", Question.created_at))
    return func.date(Question.created_at)


def share(part: int, whole: int) -> float | None:
    """part / whole rounded to 3 places, None for an empty whole."""
    return round(part / whole, 3) if whole else None


def overview(*, session: Session, period: Period) -> dict[str, Any]:
    """Headline numbers: questions asked and answered, active people and channels, feedback."""
    asked, answered, people, channels = session.execute(_in_period(
        select(func.count(Question.id), _answered(), func.count(distinct(Question.user_id)),
               func.count(distinct(Question.channel_id))), period)).one()
    helpful, not_helpful = session.execute(_in_period(
        select(_count_if(Feedback.vote > 0), _count_if(Feedback.vote < 0))
        .select_from(Feedback).join(Question, Question.id == Feedback.question_id), period)).one()
    return {"asked": asked, "answered": answered, "declined": asked - answered,
            "answered_share": share(answered, asked), "people": people, "channels": channels,
            "helpful": helpful, "not_helpful": not_helpful}


def questions_per_day(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """One row per day of the period, days without questions included."""
    day = _day(session).label("day")
    rows = session.execute(_in_period(select(day, func.count(Question.id), _answered()), period).group_by(day))
    counts = {str(d)[:10]: (asked, answered) for d, asked, answered in rows}
    result = []
    for each in period.each_day():
        asked, answered = counts.get(each.isoformat(), (0, 0))
        result.append({"day": each.isoformat(), "asked": asked, "answered": answered, "declined": asked - answered,
                       "answered_share": share(answered, asked)})
    return result


def questions_by_platform(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """Questions, answers and people per platform."""
    rows = session.execute(_in_period(
        select(Question.platform, func.count(Question.id), _answered(), func.count(distinct(Question.user_id))),
        period).group_by(Question.platform).order_by(func.count(Question.id).desc(), Question.platform))
    return [{"platform": platform, "asked": asked, "answered": answered, "answered_share": share(answered, asked),
             "people": people} for platform, asked, answered, people in rows]


def top_entries(*, session: Session, period: Period, limit: int = 25) -> list[dict[str, Any]]:
    """The entries that answered most often, with their feedback."""
    answered = func.count(distinct(Question.id))
    rows = session.execute(_in_period(
        select(Question.entry_id, answered, _count_if(Feedback.vote > 0), _count_if(Feedback.vote < 0),
               func.max(Question.created_at))
        .outerjoin(Feedback, Feedback.question_id == Question.id)
        .where(Question.status == "answered", Question.entry_id.is_not(None)), period)
        .group_by(Question.entry_id).order_by(answered.desc(), Question.entry_id).limit(limit))
    return [{"entry_id": entry_id, "answered": count, "helpful": up, "not_helpful": down, "last_asked": last}
            for entry_id, count, up, down, last in rows]


def channel_activity(*, session: Session, period: Period, limit: int = 100) -> list[dict[str, Any]]:
    """The channels people asked in, busiest first."""
    asked = func.count(Question.id)
    rows = session.execute(_in_period(
        select(Channel.platform, Channel.name, Channel.platform_channel_id, asked, _answered(),
               func.count(distinct(Question.user_id)), func.max(Question.created_at))
        .join(Channel, Channel.id == Question.channel_id), period)
        .group_by(Channel.id, Channel.platform, Channel.name, Channel.platform_channel_id)
        .order_by(asked.desc(), Channel.id).limit(limit))
    return [{"platform": platform, "channel": name or channel_id, "asked": count, "answered": answered,
             "answered_share": share(answered, count), "people": people, "last_active": last}
            for platform, name, channel_id, count, answered, people, last in rows]


def people_activity(*, session: Session, period: Period, limit: int = 100) -> list[dict[str, Any]]:
    """The people who asked, most active first."""
    asked = func.count(Question.id)
    rows = session.execute(_in_period(
        select(User.platform, User.display_name, User.platform_user_id, asked, _answered(),
               func.count(distinct(Question.channel_id)), func.max(Question.created_at))
        .join(User, User.id == Question.user_id), period)
        .group_by(User.id, User.platform, User.display_name, User.platform_user_id)
        .order_by(asked.desc(), User.id).limit(limit))
    return [{"platform": platform, "person": name or user_id, "asked": count, "answered": answered,
             "answered_share": share(answered, count), "channels": channels, "last_active": last}
            for platform, name, user_id, count, answered, channels, last in rows]


def platforms_seen(*, session: Session) -> list[str]:
    """Every platform any question came from."""
    return list(session.scalars(select(Question.platform).distinct().order_by(Question.platform)))

