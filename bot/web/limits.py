"""Request bodies: size limits enforced while the body streams in, JSON that Python accepts but nothing should,
and validation errors that quote a short excerpt of the input rather than all of it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_LIMIT = 64 * 1024
SLACK_LIMIT = 1024 * 1024  # Slack's own payloads stay far below this; a big one is not from Slack
FORM_LIMIT = 1024 * 1024
SLACK_PATH = "/slack/events"
EXCERPT_CHARS = 80
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class BodyLimits:
    """ASGI middleware: 413 for a body over its limit (declared or streamed), before anything parses it.

    JSON bodies (and bodies without a content type, which FastAPI reads as JSON) may have 64 KiB; Slack's endpoint
    1 MiB; forms 1 MiB. A JSON body with NaN, Infinity, a lone surrogate or absurd nesting is refused with 422
    here, since Python's parser takes them and they later break whatever encodes or stores the value.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k: v for k, v in scope.get("headers", ()) if k in (b"content-type", b"content-length")}
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        is_json = scope["path"] != SLACK_PATH and not content_type.startswith(_FORMS)
        limit = SLACK_LIMIT if scope["path"] == SLACK_PATH else JSON_LIMIT if is_json else FORM_LIMIT
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        body = await _read(receive, limit)
        if body is None:
            await _too_large(limit)(scope, receive, send)
            return
        problem = json_problem(body) if is_json and body else None
        if problem is not None:
            await JSONResponse({"detail": problem}, status_code=422)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away; the app will see the disconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _too_large(limit: int) -> Response:
    return JSONResponse({"detail": f"the request body is larger than {limit // 1024} KiB"}, status_code=413,
                        headers={"Connection": "close"})


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_problem(body: bytes) -> str | None:
    """Why this JSON body must be refused (a line), or None: fine, or malformed in a way FastAPI reports itself."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError:
        return None  # FastAPI answers 422 json_invalid with the position
    except RecursionError:
        return "the JSON is nested too deeply"
    except ValueError as exc:
        return str(exc)
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "the JSON has a lone surrogate (\\ud800-\\udfff) in a string"
    except RecursionError:
        return "the JSON is nested too deeply"
    return None


def excerpt(value: Any) -> str:
    """At most EXCERPT_CHARS characters of a value, for quoting it back in an error."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, quoting a short excerpt of each bad input instead of echoing it whole."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        shown = {key: error[key] for key in ("type", "loc", "msg") if key in error}
        if "input" in error:
            shown["input"] = excerpt(error["input"])
        errors.append(shown)
    return JSONResponse({"detail": errors}, status_code=422)
