"""The query parameters every dashboard page, export and stats endpoint shares: the period and the platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Query

from bot.core.admin.usage import MAX_DAYS, Period

DEFAULT_DAYS = 30
# Dates a period may use: within them every day boundary is a valid datetime on both databases.
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
RANGE_CHOICES = (7, 30, 90, 365)


@dataclass(frozen=True)
class Filters:
    """The chosen period (last N days, or from/to dates), platform and search text."""

    period: Period
    days: int | None
    query: str = ""

    def query_string(self, **extra: str) -> str:
        """These filters as a URL query, for links that keep them (exports, charts)."""
        params = {"days": str(self.days)} if self.days else {"start": self.period.start.isoformat(),
                                                              "end": self.period.end.isoformat()}
        if self.period.platform:
            params["platform"] = self.period.platform
        if self.query:
            params["q"] = self.query
        params.update({k: v for k, v in extra.items() if v})
        return urlencode(params)


def filters(days: int | None = Query(None, ge=1, le=MAX_DAYS), start: date | None = None, end: date | None = None,
            platform: str | None = Query(None, max_length=16), q: str = Query("", max_length=200)) -> Filters:
    """FastAPI dependency: `days` (default 30), or `start` and `end` (inclusive UTC dates); 400 for a bad range."""
    platform = platform or None
    if start is None and end is None:
        days = days or DEFAULT_DAYS
        return Filters(Period.last_days(days, platform), days, q.strip())
    if start is None or end is None:
        raise HTTPException(400, "give both start and end (YYYY-MM-DD), or days")
    if not (EARLIEST <= start <= LATEST and EARLIEST <= end <= LATEST):
        raise HTTPException(400, f"dates must lie between {EARLIEST} and {LATEST}")
    if end < start or end - start >= timedelta(days=MAX_DAYS):
        raise HTTPException(400, f"end must be on or after start, at most {MAX_DAYS} days later")
    return Filters(Period(start, end, platform), None, q.strip())


FiltersDep = Annotated[Filters, Depends(filters)]
