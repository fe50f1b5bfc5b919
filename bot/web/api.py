"""The JSON API under /api/v1."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from bot.core.conversation import Person
from bot.core.conversation import Request as ChatRequest
from bot.web.auth import require_api_access

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_access)])


class AskBody(BaseModel):
    """The body of POST /api/v1/ask."""

    question: str = Field(max_length=100_000)


@router.post("/ask")
async def ask(body: AskBody, request: Request, response: Response, background: BackgroundTasks) -> dict[str, Any]:
    """Answer one question: the `ask --json` object.

    The question is stored after the response is sent, so a cached answer costs well under a millisecond;
    `Server-Timing: answer;dur=MS;desc="cache hit"|"computed"` says how long answering took.
    """
    runtime = request.app.state.runtime
    if not runtime.ready:
        raise HTTPException(503, "still starting: the model and the knowledge index are loading")
    client = request.client.host if request.client else "unknown"
    chat_request = ChatRequest(platform="api", user=Person(platform_id=client, name=client), channel_id="api",
                               command="ask", text=body.question)
    answer = await runtime.ask.answer_async(body.question)
    background.add_task(_record, runtime, chat_request, answer)
    how = "cache hit" if answer.cached else "computed"
    response.headers["Server-Timing"] = f'answer;dur={answer.latency_ms:.3f};desc="{how}"'
    return answer.to_json()


async def _record(runtime: Any, chat_request: ChatRequest, answer: Any) -> None:
    try:
        await runtime.qa.record(chat_request, answer)
    except Exception:
        log.exception("could not store an API question")
