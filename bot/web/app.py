"""The web application: health, the HTTP API, and (later) the dashboard, playground and Slack endpoint."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.db.migrate import is_up_to_date
from bot.runtime import Runtime
from bot.web import api

log = logging.getLogger(__name__)


def create_app(runtime: Runtime) -> FastAPI:
    """The FastAPI app serving this runtime; the model and index load in the background at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_start(runtime))
        yield
        task.cancel()

    app = FastAPI(title="torchtutor", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime
    app.state.schema_ready = False
    app.include_router(api.router)
    app.add_middleware(ServerTiming)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    return app


class ServerTiming:
    """ASGI middleware adding `Server-Timing: app;dur=MS`: the time from receiving a request to its response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


async def _start(runtime: Runtime) -> None:
    try:
        await asyncio.to_thread(runtime.start)
    except Exception:
        log.exception("start-up failed; /healthz stays 503")


async def healthz(request: Request) -> JSONResponse:
    """200 once the model is loaded, the index built and the database migrated; 503 before."""
    app = request.app
    runtime: Runtime = app.state.runtime
    if not app.state.schema_ready:
        app.state.schema_ready = await asyncio.to_thread(_schema_ready, runtime)
    checks = {"model": runtime.ready, "database": app.state.schema_ready}
    if all(checks.values()):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "starting", "checks": checks}, status_code=503)


def _schema_ready(runtime: Runtime) -> bool:
    try:
        return is_up_to_date(runtime.database.engine)
    except SQLAlchemyError:
        return False
