"""The web application: health, metrics, the HTTP API, and (later) the dashboard, playground and Slack endpoint."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bot.health import run_checks
from bot.metrics import CONTENT_TYPE
from bot.runtime import Runtime
from bot.web import api
from bot.web.auth import require_metrics_access
from bot.web.middleware import RequestContext

log = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> FastAPI:
    """The FastAPI app serving this runtime; the model and index load in the background at start-up.

    The app's lifespan owns the runtime's end: when the server stops, the shutdown hooks run and the runtime's
    connections are closed.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_start(runtime))
        try:
            yield
        finally:
            task.cancel()
            await runtime.shutdown("server stopping")
            runtime.close()
            log.info("stopped")

    app = FastAPI(title="torchtutor", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime
    app.state.health = {}
    app.add_middleware(RequestContext)
    app.include_router(api.router)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"], dependencies=[Depends(require_metrics_access)],
                      include_in_schema=False)
    return app


async def _start(runtime: Runtime) -> None:
    try:
        await asyncio.to_thread(runtime.start)
    except Exception as exc:
        runtime.start_error = f"{type(exc).__name__}: {exc}"
        log.exception("start-up failed; /healthz stays 503")


async def healthz(request: Request) -> JSONResponse:
    """200 `{"status": "ok"}` when every check passes (model, database, queue, ...); else 503 naming the failing."""
    app = request.app
    runtime: Runtime = app.state.runtime
    results = await run_checks(runtime.health_checks)
    _log_changes(app.state.health, results, logging.WARNING if runtime.ready else logging.INFO)
    checks = {name: reason is None for name, reason in results.items()}
    failing = [name for name, ok in checks.items() if not ok]
    if runtime.draining:
        return JSONResponse({"status": "stopping", "checks": checks, "failing": failing}, status_code=503)
    if not failing:
        return JSONResponse({"status": "ok"})
    status = "starting" if not runtime.ready and runtime.start_error is None else "unhealthy"
    # Reasons go to the log, not to whoever can reach /healthz (they name hosts and databases).
    return JSONResponse({"status": status, "checks": checks, "failing": failing}, status_code=503)


def _log_changes(last: dict[str, str | None], results: dict[str, str | None], level: int) -> None:
    """Log a check when it turns red, changes reason, or recovers; not on every probe."""
    for name, reason in results.items():
        before = last.get(name)
        if reason is not None and reason != before:
            log.log(level, "health check %s failing: %s", name, reason)
        elif reason is None and before is not None:
            log.info("health check %s recovered", name)
        last[name] = reason


async def metrics(request: Request) -> Response:
    """Prometheus text format; the scrape-time sources query the database, so render off the event loop."""
    runtime: Runtime = request.app.state.runtime
    body = await asyncio.to_thread(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
