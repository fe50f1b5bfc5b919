"""`/playground`: chat with the bot in the browser. Public, CSRF-protected, rate-limited per visitor and address.

POST /playground/send answers with Server-Sent Events: one `reply` event per reply or edit as the core yields
them (a demo's progress edits arrive live), a comment every few seconds while waiting, then `done`. Each request
carries its own stream, so nothing is kept between requests and any process can serve any request.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from bot.adapters.playground import Visitor, WebChat
from bot.core.commands import CATALOGUE
from bot.core.tutor import UNAVAILABLE
from bot.web.security import SlidingWindowLimiter, current_viewer, require_csrf, visitor_id
from bot.web.templating import render

router = APIRouter(prefix="/playground")
KEEPALIVE_S = 10.0
RETRY_AFTER_S = 5
PER_VISITOR = (20, 60.0)  # messages per window (seconds)
PER_ADDRESS = (60, 60.0)


class SendBody(BaseModel):
    """A typed line, or the token of a pressed button."""

    text: str | None = Field(None, max_length=4000)
    button: str | None = Field(None, max_length=2000)


def _visitor(request: Request) -> Visitor:
    viewer = current_viewer(request)
    if viewer is not None:
        return Visitor(f"account-{viewer.id}", viewer.username, viewer.is_admin)
    anonymous = visitor_id(request)
    return Visitor(f"guest-{anonymous}", f"guest-{anonymous[:6]}")


@router.get("")
def page(request: Request) -> Response:
    """The chat page."""
    visitor = _visitor(request)
    available = request.app.state.runtime.tutor.command_names
    commands = [(command.usage, command.summary) for command in CATALOGUE if command.name in available]
    return render(request, "playground.html", section="playground", visitor=visitor, commands=commands)


@router.post("/send", dependencies=[Depends(require_csrf)])
async def send(request: Request, body: SendBody) -> Response:
    """Handle one line or button press; the replies stream back as Server-Sent Events.

    The first reply is awaited (up to KEEPALIVE_S) before the stream starts, so a request the database could not
    serve is answered 503 with its reason and Retry-After like every other route; one that only fails later gets
    the same reason as a one-line message in the stream.
    """
    runtime = request.app.state.runtime
    visitor = await asyncio.to_thread(_visitor, request)  # may read the dashboard account
    _throttle(request, visitor)
    if not runtime.ready:
        raise HTTPException(503, "The bot is still starting (loading its model). Try again in a few seconds.")
    chat: WebChat = request.app.state.web_chat
    chat_request = chat.request_for(visitor, text=body.text, button=body.button,
                                    origin=request.client.host if request.client else "")
    if chat_request is None:
        pressed = body.button is not None or (body.text or "").strip().startswith("!click")
        raise HTTPException(400, "That button is not one the bot showed you." if pressed
                            else "Type a command or a question.")
    replies = chat.replies(chat_request, visitor)
    first: asyncio.Future[dict[str, Any] | None] = asyncio.ensure_future(anext(replies, None))
    await asyncio.wait({first}, timeout=KEEPALIVE_S)  # a slow first reply gets the stream and its keep-alives
    if first.done() and first.exception() is None and (first.result() or {}).get("kind") == "unavailable":
        raise HTTPException(503, UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_S)})
    return StreamingResponse(_events(_continuing(first, replies)), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _continuing(first: asyncio.Future[dict[str, Any] | None],
                      rest: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    try:
        message = await first
    except asyncio.CancelledError:
        first.cancel()
        raise
    if message is not None:
        yield message
        async for message in rest:
            yield message


def _throttle(request: Request, visitor: Visitor) -> None:
    limiters: tuple[SlidingWindowLimiter, SlidingWindowLimiter] = request.app.state.playground_limiters
    address = request.client.host if request.client else "unknown"
    wait = limiters[0].hit(visitor.id) or limiters[1].hit(address)
    if wait:
        raise HTTPException(429, f"You are sending messages too fast. Wait {int(wait) + 1} s.",
                            headers={"Retry-After": str(int(wait) + 1)})


async def _events(replies: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """SSE frames for each reply, with keep-alive comments while the core is busy (long demos)."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for message in replies:
                await queue.put(message)
        finally:
            await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": waiting\n\n"
                continue
            if message is None:
                break
            yield f"event: reply\ndata: {json.dumps(message, ensure_ascii=False)}\n\n"
        yield "event: done\ndata: {}\n\n"
    finally:
        task.cancel()
