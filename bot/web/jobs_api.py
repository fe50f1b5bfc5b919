"""Demo jobs over HTTP: start one, read it, follow it as Server-Sent Events, fetch its plots, cancel it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from bot.core.conversation import Person
from bot.core.conversation import Request as ChatRequest
from bot.core.demos.live import DemoJobs, UnknownDemoName, progress_json, result_json
from bot.core.errors import BadInput, Forbidden, NotFound, QueueFull, TorchtutorError
from bot.web.auth import require_api_access
from workers.errors import UnknownJob
from workers.jobs import JobResult, JobSnapshot

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_access)])


class JobBody(BaseModel):
    """The body of POST /api/v1/demos/{name}/jobs."""

    params: dict[str, Any] = Field(default_factory=dict)


def _demos(request: Request) -> DemoJobs:
    demos: DemoJobs = request.app.state.runtime.demos
    return demos


def _caller(request: Request) -> Person:
    # Whoever passed require_api_access holds the token (or is on this machine): an operator.
    host = request.client.host if request.client else "unknown"
    return Person(platform_id=host, name=host, is_admin=True)


def _image_urls(request: Request, result: JobResult) -> list[str]:
    return [str(request.url_for("job_image", job_id=result.job_id, index=n)) for n in range(len(result.images))]


def _job_json(request: Request, job: JobSnapshot) -> dict[str, Any]:
    result = None
    if job.result is not None:
        result = {"text": job.result.text, "code": job.result.code, "metrics": job.result.metrics,
                  "images": _image_urls(request, job.result), "seconds": job.result.seconds}
    return {"job_id": job.job_id, "demo": job.demo, "params": job.params, "status": job.status,
            "progress": job.progress, "stage": job.stage, "device": job.device, "worker": job.worker,
            "error": job.error, "attempts": job.attempts, "result": result,
            "created_at": job.created_at.isoformat(),
            "started_at": job.started_at.isoformat() if job.started_at else None,
            "finished_at": job.finished_at.isoformat() if job.finished_at else None}


@router.post("/demos/{name}/jobs", status_code=202)
async def start_job(name: str, body: JobBody, request: Request) -> dict[str, str]:
    """Validate and queue a demo job: 202 `{"job_id"}`; 404 unknown demo, 422 bad params, 429 queue full."""
    person = _caller(request)
    chat_request = ChatRequest(platform="api", user=person, channel_id="api", command="demo")
    try:
        started = await asyncio.to_thread(_demos(request).start_demo, chat_request, name, body.params)
    except QueueFull as exc:
        raise HTTPException(429, exc.user_message()) from None
    except UnknownDemoName as exc:
        raise HTTPException(404, exc.user_message()) from None
    except BadInput as exc:
        raise HTTPException(422, exc.user_message()) from None
    except TorchtutorError as exc:
        raise HTTPException(503, exc.user_message()) from None
    return {"job_id": started.job_id}


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, request: Request) -> dict[str, Any]:
    """The job: status, progress, stage, and its result once finished."""
    job = await asyncio.to_thread(_demos(request).store.get, job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return _job_json(request, job)


@router.get("/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request) -> StreamingResponse:
    """Server-Sent Events: `progress` events (never going down, with the status), then one `result` event."""
    return await job_event_stream(_demos(request), job_id, lambda result: _image_urls(request, result))


async def job_event_stream(demos: DemoJobs, job_id: str, image_urls: Callable[[JobResult], list[str]]
                           ) -> StreamingResponse:
    """A job's progress stream as Server-Sent Events (the API's and the dashboard's): `progress` events with
    the job's status, then one `result` whose images are `image_urls(result)`; 404 for an unknown job."""
    if await asyncio.to_thread(demos.store.get, job_id) is None:
        raise HTTPException(404, "no such job")

    async def stream() -> AsyncIterator[str]:
        try:
            async for event in demos.events(job_id):
                if event.result is not None:
                    yield _sse("result", result_json(event.result, image_urls(event.result)))
                    return
                yield _sse("progress", progress_json(event) | {"status": event.status})
        except UnknownJob:
            yield _sse("error", {"error": "no such job"})

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/jobs/{job_id}/images/{index}", name="job_image")
async def job_image(job_id: str, index: int, request: Request) -> Response:
    """One PNG the job produced."""
    images = await asyncio.to_thread(_demos(request).store.images, job_id)
    if not 0 <= index < len(images):
        raise HTTPException(404, "no such image")
    return Response(images[index], media_type="image/png")


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request) -> JSONResponse:
    """Cancel a queued or running job: 200, 404 unknown, 409 already finished."""
    try:
        await asyncio.to_thread(_demos(request).cancel_job, job_id, _caller(request), "api")
    except NotFound as exc:
        raise HTTPException(404, exc.user_message()) from None
    except (BadInput, Forbidden) as exc:
        raise HTTPException(409, exc.user_message()) from None
    return JSONResponse({"job_id": job_id, "status": "cancelled"})


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
