"""`/api/v1/stats/*`: the dashboard's numbers as JSON, for its charts and for scripts.

Read-only. A dashboard session (viewer or admin) or the API bearer token, when one is configured, may read;
anyone else gets 401.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from bot.core.admin.usage import overview
from bot.web.dashboard import tables
from bot.web.dashboard.jobs import demos_run
from bot.web.dashboard.pages import table_rows
from bot.web.dashboard.params import FiltersDep
from bot.web.dashboard.tables import Context
from bot.web.security import require_stats_reader

router = APIRouter(prefix="/api/v1/stats", dependencies=[Depends(require_stats_reader)])


@router.get("")
def index(request: Request) -> dict[str, Any]:
    """What there is: the overview and every table."""
    return {"overview": "/api/v1/stats/overview",
            "tables": [{"name": s.name, "title": s.title, "section": s.section, "url": f"/api/v1/stats/{s.name}"}
                       for s in tables.all_specs()]}


@router.get("/overview")
def overview_numbers(request: Request, chosen: FiltersDep) -> dict[str, Any]:
    """Questions asked, answered and declined, share answered, active people and channels, demos, feedback."""
    runtime = request.app.state.runtime
    with runtime.database.session() as session:
        numbers = overview(session=session, period=chosen.period)
        demos = demos_run(Context(runtime, session, chosen.period))
    return {"period": chosen.period.to_json(), **numbers, "demos_run": demos}


@router.get("/{name}")
def table(request: Request, name: str, chosen: FiltersDep) -> dict[str, Any]:
    """One dashboard table (questions-per-day, top-entries, gaps, ...) as columns and rows."""
    spec = tables.get(name)
    if spec is None:
        raise HTTPException(404, f"there is no table {name!r}; GET /api/v1/stats lists them")
    return {"period": chosen.period.to_json(), **tables.to_json(spec, table_rows(request, spec, chosen))}
