"""Knowledge gaps on the dashboard: the runtime's `GapFinder` for the chosen period, and dismissing one (admins).

The same gaps, keys and marks as `torchtutor gaps` and `/api/v1/stats/gaps`: a gap dismissed here is gone there.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.core.admin.gaps import GapWindow
from bot.core.admin.usage import Period
from bot.core.errors import BadInput, NotFound
from bot.web.dashboard.params import FiltersDep
from bot.web.dashboard.tables import Context
from bot.web.security import AdminDep, require_csrf

router = APIRouter(prefix="/dashboard/gaps")
LIMIT = 200  # gaps listed at most


def window(period: Period) -> GapWindow:
    """The questions of the dashboard's period: its whole UTC days, on its platform if one is chosen."""
    since, until = period.bounds()
    return GapWindow(since=since, until=until, platform=period.platform)


def gap_rows(ctx: Context) -> list[dict[str, Any]]:
    """The gaps of the period as table rows, most asked first; 503 while the knowledge index is loading."""
    if not ctx.runtime.ready:
        raise HTTPException(503, "The knowledge index is still loading; try again in a minute.")
    return [{"key": gap.key, "question": gap.question, "asked": gap.asked, "people": gap.people,
             "platforms": gap.platforms, "reasons": _reasons(gap.reasons), "first_asked": gap.first_asked,
             "last_asked": gap.last_asked, "examples": gap.examples, "nearest_entry": gap.nearest_entry_id}
            for gap in ctx.runtime.gaps.gaps(window=window(ctx.period), limit=LIMIT)]


def _reasons(reasons: dict[str, int]) -> str:
    """{"declined": 2, "downvoted": 1} as "2 declined, 1 downvoted"."""
    return ", ".join(f"{count} {why.replace('_', ' ')}" for why, count in reasons.items())


@router.post("/{key}/dismiss", dependencies=[Depends(require_csrf)])
def dismiss_gap(request: Request, key: str, viewer: AdminDep, chosen: FiltersDep) -> Response:
    """Take a gap of the shown period off the list (admins); back to the list with the same filters."""
    try:
        request.app.state.runtime.gaps.mark(key, status="dismissed", by=viewer.username,
                                            window=window(chosen.period))
    except NotFound as exc:
        raise HTTPException(404, exc.user_message()) from None
    except BadInput as exc:
        raise HTTPException(400, exc.user_message()) from None
    return RedirectResponse(f"/dashboard/gaps?{chosen.query_string(dismissed=key)}", 303)

