"""Request ids: every HTTP request gets one, bound for its log lines and echoed in `X-Request-ID`."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.logging import bind

log = logging.getLogger("bot.web.access")

HEADER = "x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
QUIET_PATHS = ("/healthz", "/metrics")  # probed every few seconds: logged at DEBUG only


def incoming_request_id(scope: Scope) -> str | None:
    """The caller's X-Request-ID when it is short and plain (no log injection), else None."""
    for name, value in scope.get("headers", ()):
        if name == HEADER.encode():
            text = value.decode("latin-1").strip()
            return text if _SANE.fullmatch(text) else None
    return None


class RequestContext:
    """ASGI middleware: binds the request id, echoes it, writes one access line, and turns a crash into a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope) or uuid.uuid4().hex
        state: dict[str, Any] = {"status": 500, "started": False}
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        with bind(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error in %s %s", scope["method"], scope["path"])
                if state["started"]:
                    raise
                await _internal_error(send_with_id, rid)
            finally:
                _access(scope, state["status"], (time.perf_counter() - began) * 1000)


def _access(scope: Scope, status: int, elapsed_ms: float) -> None:
    level = logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO
    log.log(level, "%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed_ms,
            extra={"method": scope["method"], "path": scope["path"], "status": status,
                   "duration_ms": round(elapsed_ms, 1)})


async def _internal_error(send: Send, rid: str) -> None:
    body = json.dumps({"detail": "internal error", "request_id": rid}).encode()
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
