"""The JSON API under /api/v1."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from bot.core.conversation import Person
from bot.core.conversation import Request as ChatRequest
from bot.web.auth import require_api_access

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_api_access)])


async def accepting_work(request: Request) -> None:
    """FastAPI dependency of routes that start work: 503 once the process is shutting down (async: no thread hop)."""
    if request.app.state.runtime.draining:
        raise HTTPException(503, "shutting down: try again in a moment", headers={"Retry-After": "5"})


class AskBody(BaseModel):
    """The body of POST /api/v1/ask."""

    question: str = Field(max_length=100_000)


@router.post("/ask", dependencies=[Depends(accepting_work)])
async def ask(body: AskBody, request: Request) -> Response:
    """Answer one question: the `ask --json` object.

    The question is stored just after the response (batched with others), so a cached answer costs well under
    a millisecond; `Server-Timing: answer;dur=MS;desc="cache hit"|"computed"` says how long answering took.
    """
    runtime = request.app.state.runtime
    if not runtime.ready:
        raise HTTPException(503, "still starting: the model and the knowledge index are loading")
    client = request.client.host if request.client else "unknown"
    chat_request = ChatRequest(platform="api", user=Person(platform_id=client, name=client), channel_id="api",
                               command="ask", text=body.question)
    answer, _ = await runtime.qa.answer_and_record(chat_request, wait=False)
    how = "cache hit" if answer.cached else "computed"
    return Response(orjson.dumps(answer.to_json()), media_type="application/json",
                    headers={"Server-Timing": f'answer;dur={answer.latency_ms:.3f};desc="{how}"'})
