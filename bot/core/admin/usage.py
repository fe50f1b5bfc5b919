"""How people use the bot, from the questions, feedback, users and channels tables: the dashboard's overview.

The counts come from `bot.db.usage_repo`; here they become the rows and shares the dashboard shows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.db import usage_repo as repo
from bot.db.usage_repo import Span

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

    def span(self) -> Span:
        """The period as the usage queries take it."""
        first, after = self.bounds()
        return Span(first, after, self.platform)

    def each_day(self) -> Iterator[date]:
        """Every day of the period, in order."""
        for offset in range(self.days):
            yield self.start + timedelta(days=offset)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days,
                "platform": self.platform}


def share(part: int, whole: int) -> float | None:
    """part / whole rounded to 3 places, None for an empty whole."""
    return round(part / whole, 3) if whole else None


def overview(*, session: Session, period: Period) -> dict[str, Any]:
    """Headline numbers: questions asked and answered, active people and channels, feedback."""
    asked, answered, people, channels = repo.question_totals(session=session, span=period.span())
    helpful, not_helpful = repo.feedback_totals(session=session, span=period.span())
    return {"asked": asked, "answered": answered, "declined": asked - answered,
            "answered_share": share(answered, asked), "people": people, "channels": channels,
            "helpful": helpful, "not_helpful": not_helpful}


def questions_per_day(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """One row per day of the period, days without questions included."""
    counts = repo.questions_per_day(session=session, span=period.span())
    result = []
    for each in period.each_day():
        asked, answered = counts.get(each.isoformat(), (0, 0))
        result.append({"day": each.isoformat(), "asked": asked, "answered": answered, "declined": asked - answered,
                       "answered_share": share(answered, asked)})
    return result


def questions_by_platform(*, session: Session, period: Period) -> list[dict[str, Any]]:
    """Questions, answers and people per platform."""
    rows = repo.questions_by_platform(session=session, span=period.span())
    return [{"platform": platform, "asked": asked, "answered": answered, "answered_share": share(answered, asked),
             "people": people} for platform, asked, answered, people in rows]


def top_entries(*, session: Session, period: Period, limit: int = 25) -> list[dict[str, Any]]:
    """The entries that answered most often, with their feedback."""
    rows = repo.top_entries(session=session, span=period.span(), limit=limit)
    return [{"entry_id": entry_id, "answered": count, "helpful": up, "not_helpful": down, "last_asked": last}
            for entry_id, count, up, down, last in rows]


def channel_activity(*, session: Session, period: Period, limit: int = 100) -> list[dict[str, Any]]:
    """The channels people asked in, busiest first."""
    rows = repo.channel_activity(session=session, span=period.span(), limit=limit)
    return [{"platform": platform, "channel": name or channel_id, "asked": count, "answered": answered,
             "answered_share": share(answered, count), "people": people, "last_active": last}
            for platform, name, channel_id, count, answered, people, last in rows]


def people_activity(*, session: Session, period: Period, limit: int = 100) -> list[dict[str, Any]]:
    """The people who asked, most active first."""
    rows = repo.people_activity(session=session, span=period.span(), limit=limit)
    return [{"platform": platform, "person": name or user_id, "asked": count, "answered": answered,
             "answered_share": share(answered, count), "channels": channels, "last_active": last}
            for platform, name, user_id, count, answered, channels, last in rows]


def platforms_seen(*, session: Session) -> list[str]:
    """Every platform any question came from."""
    return repo.platforms_seen(session=session)

