"""`POST /slack/events` in front of Bolt: refuse what is not Slack's before anything parses it, take each signed
request once, and answer malformed payloads with 400 rather than an error deep inside a listener.

Order: the timestamp must be a number and the signature must match (401 otherwise, as Bolt would say, but
without Bolt's crash on a non-numeric timestamp); a request already taken (same timestamp and signature: a
replay within the signature window) is acknowledged and dropped; the body must parse as Slack's payloads do and
have their shape (400 otherwise); then Bolt dispatches it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from typing import TYPE_CHECKING

from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.request.internals import parse_body
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.adapters.slack.translate import payload_problem

if TYPE_CHECKING:
    from bot.adapters.slack.app import SlackAdapter

log = logging.getLogger(__name__)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE_WINDOW_S = 300  # Slack's own rule (and Bolt's): older requests are refused


async def handle_events(adapter: SlackAdapter, request: Request) -> Response:
    """Check, claim and dispatch one signed Slack request."""
    body = await request.body()
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not signed(adapter.signing_secret, body, timestamp, signature):
        return JSONResponse({"error": "invalid request"}, status_code=401)
    problem = malformed(body, request.headers.get("content-type"))
    if problem is not None:
        log.info("refusing a signed Slack request: %s", problem)
        return JSONResponse({"error": "malformed payload", "detail": problem}, status_code=400)
    if not await asyncio.to_thread(adapter.claim_request, timestamp, signature):
        log.info("dropping a replayed Slack request (timestamp %s)", timestamp)
        return Response(status_code=200)
    bolt_request = to_async_bolt_request(request, body)
    return to_starlette_response(await adapter.app.async_dispatch(bolt_request))


def signed(secret: bytes, body: bytes, timestamp: str, signature: str, now: float | None = None) -> bool:
    """Slack's v0 signature over the raw bytes, made within the last five minutes (any bytes: no decoding here)."""
    if not secret or not _TIMESTAMP.fullmatch(timestamp):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_WINDOW_S:
        return False
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def malformed(body: bytes, content_type: str | None) -> str | None:
    """Why a (signed) body is not a Slack payload we can take, or None."""
    try:
        payload = parse_body(body.decode("utf-8"), content_type)
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    except (ValueError, RecursionError):
        return "the payload is not valid JSON"
    return payload_problem(payload)
