"""The dashboard's demo-job views: one job's details, its live progress (SSE, session-authorised) and cancel.

Viewers see every job and follow it live; only admins get the cancel form, which goes through the core's
`DemoJobs.cancel_job` like the chat button and the HTTP API.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from bot.core.conversation import Person
from bot.core.demos.live import progress_json, result_json
from bot.core.errors import BadInput, Forbidden, NotFound
from bot.web.dashboard import sources
from bot.web.dashboard.metrics_view import metric_rows
from bot.web.jobs_api import _sse
from bot.web.security import AdminDep, ViewerDep, require_csrf
from bot.web.templating import render
from workers.errors import UnknownJob

router = APIRouter(prefix="/dashboard/jobs")


def _demos(request: Request):  # type: ignore[no-untyped-def]
    runtime = request.app.state.runtime
    if not sources.jobs_enabled(runtime):
        raise HTTPException(404, "demo jobs are not available")
    return runtime.demos


@router.get("/{job_id}")
async def job_page(request: Request, job_id: str, viewer: ViewerDep) -> Response:
    """One job: parameters, status and live progress, then its result (text, code, metrics, plots)."""
    demos = _demos(request)
    job = await asyncio.to_thread(demos.store.get, job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    images = [base64.b64encode(png).decode() for png in (job.result.images if job.result else ())]
    metrics = metric_rows(job.result.metrics) if job.result and job.result.metrics else []
    return render(request, "dashboard/job.html", section="jobs", viewer=viewer, job=job, images=images,
                  metrics=metrics, cancelled=request.query_params.get("cancelled") == "1")


@router.get("/{job_id}/events")
async def job_events(request: Request, job_id: str, viewer: ViewerDep) -> StreamingResponse:
    """Server-Sent Events of one job for a logged-in viewer: `progress` (with status), then one `result`.

    The same stream as the HTTP API's `/api/v1/jobs/{id}/events` (the core's `events`, i.e. `watch()`), but
    authorised by the dashboard session instead of the API token; the result carries no image URLs.
    """
    demos = _demos(request)
    if await asyncio.to_thread(demos.store.get, job_id) is None:
        raise HTTPException(404, "no such job")

    async def stream() -> AsyncIterator[str]:
        try:
            async for event in demos.events(job_id):
                if event.result is not None:
                    yield _sse("result", result_json(event.result, []) | {"progress": 1.0})
                    return
                yield _sse("progress", progress_json(event) | {"status": event.status})
        except UnknownJob:
            yield _sse("error", {"error": "no such job"})

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{job_id}/cancel", dependencies=[Depends(require_csrf)])
async def cancel_job(request: Request, job_id: str, viewer: AdminDep) -> Response:
    """Cancel a queued or running job (admins only): back to the job; 404 unknown, 409 already finished."""
    demos = _demos(request)
    person = Person(platform_id=f"dashboard:{viewer.username}", name=viewer.username, is_admin=True)
    try:
        await asyncio.to_thread(demos.cancel_job, job_id, person, "dashboard")
    except NotFound as exc:
        raise HTTPException(404, exc.user_message()) from None
    except (BadInput, Forbidden) as exc:
        raise HTTPException(409, exc.user_message()) from None
    return RedirectResponse(f"/dashboard/jobs/{job_id}?cancelled=1", 303)
