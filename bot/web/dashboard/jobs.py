"""The dashboard's demo-job views: the list with workers and queues, one job's details, its live progress (SSE,
session-authorised) and cancel, all through the runtime's `DemoJobs` and its job store.

Viewers see every job and follow it live; only admins get the cancel form, which goes through the core's
`DemoJobs.cancel_job` like the chat button and the HTTP API.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from bot.core.conversation import Person
from bot.core.demos.live import DemoJobs
from bot.core.errors import BadInput, Forbidden, NotFound
from bot.db.base import utcnow
from bot.runtime import Runtime
from bot.web.dashboard.metrics_view import metric_rows
from bot.web.dashboard.tables import Context
from bot.web.jobs_api import job_event_stream
from bot.web.security import AdminDep, ViewerDep, require_csrf
from bot.web.templating import render
from workers.jobs import ACTIVE, QUEUES
from workers.sandbox.job import RUN_JOB
from workers.store import JobListing

router = APIRouter(prefix="/dashboard/jobs")
RECENT_JOBS = 50  # jobs listed on the jobs page
WORKER_SILENT_S = 300  # a worker seen only through job rows counts as healthy this long after its last update


def _demos(request: Request) -> DemoJobs:
    demos: DemoJobs = request.app.state.runtime.demos
    return demos


def demos_run(ctx: Context) -> int:
    """Demo jobs started in the period (on its platform, if one is chosen)."""
    first, after = ctx.period.bounds()
    return ctx.runtime.demos.store.count_started(session=ctx.session, since=first, until=after,
                                                 platform=ctx.period.platform)


def jobs_overview(runtime: Runtime) -> dict[str, Any]:
    """Recent jobs, workers and queues for the jobs page.

    {"jobs": [{"id", "demo", "status", "progress", "stage", "person", "where", "created_at", "worker", "active"}],
     "workers": [{"name", "queue", "healthy", "last_seen", "job"}], "queues": [{"name", "waiting", "running"}]}.
    Workers come from the backend when it can list its processes (the local pool), else from the job rows.
    """
    store = runtime.demos.store
    jobs = [{"id": job.id, "demo": _job_label(job), "status": job.status, "progress": job.progress,
             "stage": job.stage, "person": f"{job.person or '?'} ({job.platform})", "where": job.where or "",
             "created_at": job.created_at, "worker": job.worker, "active": job.status in ACTIVE}
            for job in store.recent(RECENT_JOBS)]
    active = store.active_by_queue()
    queues = [{"name": name, "waiting": active.get(name, (0, 0))[0], "running": active.get(name, (0, 0))[1]}
              for name in sorted(set(QUEUES) | set(active))]
    return {"jobs": jobs, "workers": _workers(runtime), "queues": queues}


def _job_label(job: JobListing) -> str:
    """A demo's name; for a learner's snippet, `run`, its code's hash and how it ended (never the code)."""
    if job.demo != RUN_JOB:
        return job.demo
    label = f"run · sha256 {str(job.params.get('code_sha256', ''))[:12]}"
    outcome = (job.result.get("metrics") or {}).get("outcome")
    return f"{label} · {outcome}" if outcome else label


def _workers(runtime: Runtime) -> list[dict[str, Any]]:
    backend = runtime.demos.backend
    processes = getattr(backend, "processes", None)  # only the local pool can list its processes
    if processes is not None:  # alive ones are healthy
        return [{"name": name or "starting", "queue": backend.name, "healthy": pid is not None,
                 "last_seen": None, "job": job_id} for name, pid, job_id in processes]
    now = utcnow()
    return [{"name": worker, "queue": queue, "last_seen": last, "job": None,
             "healthy": last is not None and (now - last).total_seconds() < WORKER_SILENT_S}
            for worker, queue, last in runtime.demos.store.workers_seen(20)]


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

    The HTTP API's stream (`/api/v1/jobs/{id}/events`), authorised by the dashboard session instead of the API
    token; the result carries no image URLs (those need the token; the job page shows the plots itself).
    """
    return await job_event_stream(_demos(request), job_id, lambda result: [])


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
