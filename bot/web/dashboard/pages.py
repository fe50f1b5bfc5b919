"""The dashboard's read-only pages: overview, quizzes, gaps, demo jobs, and the CSV export of every table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from bot.core.admin.usage import overview, platforms_seen
from bot.web.dashboard import tables
from bot.web.dashboard.jobs import demos_run, jobs_overview
from bot.web.dashboard.params import RANGE_CHOICES, Filters, FiltersDep
from bot.web.dashboard.tables import Context, TableSpec
from bot.web.security import Viewer, ViewerDep
from bot.web.templating import render

router = APIRouter(prefix="/dashboard")


def table_rows(request: Request, spec: TableSpec, chosen: Filters) -> list[dict[str, Any]]:
    """The rows of one table for the chosen filters."""
    runtime = request.app.state.runtime
    with runtime.database.session() as session:
        return spec.rows(Context(runtime, session, chosen.period, chosen.query))


def _panels(request: Request, section: str, chosen: Filters) -> list[tuple[TableSpec, list[dict[str, Any]]]]:
    runtime = request.app.state.runtime
    with runtime.database.session() as session:
        ctx = Context(runtime, session, chosen.period, chosen.query)
        return [(spec, spec.rows(ctx)) for spec in tables.in_section(section)]


def _page(request: Request, template: str, section: str, chosen: Filters, viewer: Viewer, **context: Any) -> Response:
    runtime = request.app.state.runtime
    with runtime.database.session() as session:
        platforms = platforms_seen(session=session)
    return render(request, template, section=section, viewer=viewer, filters=chosen, platforms=platforms,
                  range_choices=RANGE_CHOICES, **context)


@router.get("")
def overview_page(request: Request, viewer: ViewerDep,
                  chosen: FiltersDep) -> Response:
    """Questions per day, share answered, demos, active people and channels."""
    runtime = request.app.state.runtime
    with runtime.database.session() as session:
        ctx = Context(runtime, session, chosen.period)
        headline = overview(session=session, period=chosen.period) | {"demos_run": demos_run(ctx)}
    return _page(request, "dashboard/overview.html", "overview", chosen, viewer, headline=headline,
                 panels=_panels(request, "overview", chosen))


@router.get("/quizzes")
def quizzes_page(request: Request, viewer: ViewerDep,
                 chosen: FiltersDep) -> Response:
    """Quiz attempts and accuracy, per question, topic, channel and person, and the review backlog."""
    return _page(request, "dashboard/quizzes.html", "quizzes", chosen, viewer,
                 panels=_panels(request, "quizzes", chosen))


@router.get("/gaps")
def gaps_page(request: Request, viewer: ViewerDep,
              chosen: FiltersDep, dismissed: str = "") -> Response:
    """What people asked that the bot could not answer well, one click from a new entry or a dismissal."""
    spec = tables.get("gaps")
    assert spec is not None
    return _page(request, "dashboard/gaps.html", "gaps", chosen, viewer, spec=spec,
                 rows=table_rows(request, spec, chosen), dismissed=dismissed[:64])


@router.get("/jobs")
def jobs_page(request: Request, viewer: ViewerDep) -> Response:
    """Demo jobs with live progress, workers and queues."""
    jobs = jobs_overview(request.app.state.runtime)
    return render(request, "dashboard/jobs.html", section="jobs", viewer=viewer, jobs=jobs)


@router.get("/export/{name}.csv")
def export_csv(request: Request, name: str, viewer: ViewerDep,
               chosen: FiltersDep) -> Response:
    """Any dashboard table as CSV, for the same filters as the page it is on."""
    spec = tables.get(name)
    if spec is None:
        raise HTTPException(404, f"there is no table {name!r}")
    body = tables.to_csv(spec, table_rows(request, spec, chosen))
    period = chosen.period
    filename = f"torchtutor-{name}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
