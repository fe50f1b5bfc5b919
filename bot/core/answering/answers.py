"""Question answering as the person sees it: answers with citations, related entries, demos, feedback."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from bot.core.answering.matching import Answer, AskService
from bot.core.conversation import Button, Reply, Request
from bot.core.errors import BadInput, Forbidden, NotFound
from bot.core.telemetry import NoTelemetry, Telemetry
from bot.core.text import chat_escape, plain_text
from bot.db import repo
from bot.db.base import utcnow
from bot.db.engine import Database
from bot.db.journal import Journal
from bot.logging import bind
from knowledge import docs_links
from knowledge.batching import MicroBatcher
from knowledge.entries import Entry

log = logging.getLogger(__name__)

LABEL_LIMIT = 80
RECORD_LINGER_S = 0.05  # how long a question waits for others to be stored with it
DECLINE = ("I don't know that one yet, so I won't guess. I only answer from my PyTorch knowledge base; "
           "your question has been noted for the people who maintain it.")
NO_COMPARISON = ("I have no entry that compares PyTorch with {framework}, so I won't guess. "
                 "Your question has been noted for the people who maintain my knowledge base.")
CLOSE_CALL = "_Two entries fit your question about equally well. This is one; the other is “{other}” (button below)._"
OFF_TOPIC = ("That looks like a question about {topic}, and I only answer questions about PyTorch, so I won't guess. "
             "If it is about PyTorch, mention PyTorch in the question.")


class QuestionAnswering:
    """The `/ask` command, the related-entry buttons and the feedback buttons."""

    def __init__(self, service: AskService, database: Database, telemetry: Telemetry | None = None,
                 journal: Journal | None = None) -> None:
        self.service = service
        self.database = database
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        # Questions and votes the database cannot take now are kept there and written once it is back.
        self.journal = journal
        if journal is not None:
            journal.register(QUESTION_RECORD, self._store_question_once)
            journal.register(FEEDBACK_RECORD, self._store_kept_feedback)
        # Questions are stored in batches, one transaction for all those asked meanwhile. A transaction costs
        # about three times a row, so the recorder lingers for company: at 124 questions/s on 2 cores, 2 ms
        # batches spent 15% of a core (holding the GIL the encoder and event loop need), 50 ms batches 5%.
        self._recorder: MicroBatcher[tuple[Request, Answer], int | None] = MicroBatcher(
            self._record_many, max_batch=256, max_wait=RECORD_LINGER_S, name="question-recorder")

    async def ask(self, request: Request) -> Reply:
        """Answer the request's text, record the question, render the reply."""
        if not request.text.strip():
            raise BadInput("Ask me a PyTorch question, for example `/ask how do I move a tensor to the GPU?`")
        answer, question_id = await self.answer_and_record(request)
        return render_answer(answer, question_id)

    async def answer_and_record(self, request: Request, *, wait: bool = True) -> tuple[Answer, int | None]:
        """The answer to the request's text and the id of its stored question row.

        Questions are stored in batches (one transaction for all those asked meanwhile). With `wait=False` the
        row is written a few milliseconds after this returns and the id is None: for callers that need no id
        (the HTTP API), so a cached answer costs no database round trip. The id is None too when the database
        is unavailable: the question is then kept in the journal and stored once the database is back.
        """
        started = time.perf_counter()
        with bind(platform=request.platform):
            answer = await self.service.answer_async(request.text)
        return await self.keep(request, answer, started=started, wait=wait)

    async def keep(self, request: Request, answer: Answer, *, started: float,
                   wait: bool = True) -> tuple[Answer, int | None]:
        """Record the outcome decided for a request (as `answer_and_record` does), counted from `started`."""
        with bind(platform=request.platform):
            future = self.record_later(request, answer)
        self.telemetry.question_answered(platform=request.platform, status=answer.status,
                                         seconds=time.perf_counter() - started)
        if not wait:
            return answer, None
        return answer, await asyncio.wrap_future(future)

    async def record(self, request: Request, answer: Answer) -> int | None:
        """Store the question and what the bot did with it; the id of the question row (None: kept for later)."""
        return await asyncio.wrap_future(self.record_later(request, answer))

    def record_later(self, request: Request, answer: Answer) -> Future[int | None]:
        """Queue the question for storage with others asked meanwhile; returns at once."""
        future = self._recorder.submit((request, answer))
        future.add_done_callback(_log_failure)
        return future

    def close(self) -> None:
        """Store the questions still queued and stop the recorder."""
        self._recorder.close()

    async def show_entry(self, request: Request) -> Reply:
        """A related-entry button: show that entry."""
        entry_id = (request.action or "").split(":", 2)[-1]
        entry = self.service.knowledge.index.by_id.get(entry_id)
        if entry is None:
            raise NotFound("That entry is no longer in the knowledge base.")
        return render_entry(entry, question_id=None)

    async def feedback(self, request: Request) -> Reply:
        """👍 or 👎 on an answer given in this conversation."""
        parts = (request.action or "").split(":")
        if len(parts) != 3 or parts[1] not in ("up", "down") or not parts[2].isdigit() or len(parts[2]) > 18:
            raise BadInput("That feedback button is malformed.")
        vote = 1 if parts[1] == "up" else -1
        data = {"question_id": int(parts[2]), "vote": vote, **_who(request)}
        if self.journal is None:
            stored = await asyncio.to_thread(self._store_feedback, data)
        else:
            stored = await asyncio.to_thread(self._write_feedback, data)
        if not stored:
            raise NotFound("I can't find that answer any more.")
        thanks = "Thanks! Glad it helped." if vote > 0 else "Thanks, noted: this answer will be reviewed."
        return Reply(thanks, ephemeral=True, kind="feedback")

    def _record_many(self, items: list[tuple[Request, Answer]]) -> list[int | None]:
        rows = [_question_row(request, answer) for request, answer in items]
        if self.journal is None:
            return list(self._store_questions(rows))
        stored = self.journal.write_batch(QUESTION_RECORD, rows, self._store_questions)
        return list(stored) if stored is not None else [None] * len(rows)

    def _store_questions(self, rows: list[dict[str, Any]]) -> list[int]:
        with self.database.transaction() as session:
            people = _People(session)
            values = [people.question_values(row) for row in rows]
            return repo.record_questions(session=session, rows=values)

    def _store_question_once(self, row: dict[str, Any]) -> None:
        """A kept question, written unless an earlier try already stored it (its client id is taken)."""
        with self.database.transaction() as session:
            repo.record_question_once(session=session, row=_People(session).question_values(row))

    def _write_feedback(self, data: dict[str, Any]) -> bool:
        """Store the vote now, or keep it for when the database is back (checked then); False: unknown answer."""
        assert self.journal is not None
        stored = self.journal.write_batch(FEEDBACK_RECORD, [data], lambda items: [self._store_feedback(items[0])])
        return True if stored is None else stored[0]

    def _store_kept_feedback(self, data: dict[str, Any]) -> None:
        try:
            self._store_feedback(data)
        except Forbidden:
            log.warning("dropping a kept vote on question %s: it was not asked where the vote came from",
                        data.get("question_id"))

    def _store_feedback(self, data: dict[str, Any]) -> bool:
        """Store one vote if the voter may see that answer; False when the answer is unknown."""
        with self.database.transaction() as session:
            place = repo.question_place(session=session, question_id=data["question_id"])
            if place is None:
                return False
            platform, workspace_id, channel_id = data["place"][:3]
            asked_here = place == (platform, workspace_id, channel_id)
            # Anyone in a shared channel may rate what they see there (a Discord thread included); a private
            # conversation (the playground, a DM, the terminal) is its asker's alone, and nothing crosses
            # platforms or workspaces.
            if place[:2] != (platform, workspace_id) or (data.get("direct") and not asked_here):
                raise Forbidden("You can only rate answers given in your own conversation.")
            user = _People(session).user(data["user"])
            return repo.record_feedback(session=session, question_id=data["question_id"], user=user,
                                        vote=data["vote"]) is not None


QUESTION_RECORD = "question"
FEEDBACK_RECORD = "feedback"


def _who(request: Request) -> dict[str, Any]:
    """The person and place of a request as JSON (journal records carry it; ids are resolved when written)."""
    return {"user": [request.platform, request.user.platform_id, request.user.name],
            "place": [request.platform, request.workspace_id, request.channel_id, request.channel_name],
            "direct": request.is_direct}


def _question_row(request: Request, answer: Answer) -> dict[str, Any]:
    return {**_who(request), "client_id": uuid.uuid4().hex, "text": answer.question,
            "score": answer.hit.score if answer.hit else 0.0,
            "entry_id": answer.hit.entry.id if answer.answered and answer.hit else None,
            "status": answer.status, "latency_ms": answer.latency_ms, "created_at": utcnow().isoformat()}


class _People:
    """User and channel rows of one transaction, each looked up once."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._users: dict[tuple[str, ...], Any] = {}
        self._channels: dict[tuple[str, ...], Any] = {}

    def user(self, who: list[str]) -> Any:
        key = tuple(who)
        if key not in self._users:
            platform, platform_user_id, name = who
            self._users[key] = repo.get_or_create_user(session=self.session, platform=platform,
                                                       platform_user_id=platform_user_id, display_name=name)
        return self._users[key]

    def channel(self, place: list[str]) -> Any:
        key = tuple(place)
        if key not in self._channels:
            platform, workspace_id, channel_id, name = place
            self._channels[key] = repo.get_or_create_channel(session=self.session, platform=platform,
                                                             workspace_id=workspace_id,
                                                             platform_channel_id=channel_id, name=name)
        return self._channels[key]

    def question_values(self, row: dict[str, Any]) -> dict[str, Any]:
        """A question record as column values."""
        return {"platform": row["user"][0], "user_id": self.user(row["user"]).id,
                "channel_id": self.channel(row["place"]).id, "text": row["text"], "score": row["score"],
                "entry_id": row["entry_id"], "status": row["status"], "latency_ms": row["latency_ms"],
                "created_at": datetime.fromisoformat(row["created_at"]), "client_id": row["client_id"]}


def _log_failure(future: Future[int | None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("could not store a question: %s", future.exception())


def render_answer(answer: Answer, question_id: int | None) -> Reply:
    """The reply for an answered or declined question."""
    if answer.answered and answer.hit is not None:
        alternative = answer.alternative.entry if answer.alternative else None
        return render_entry(answer.hit.entry, question_id, related=[h.entry for h in answer.related],
                            alternative=alternative)
    suggestions = _related_buttons([h.entry for h in answer.related])
    if answer.off_topic is not None:
        return Reply(OFF_TOPIC.format(topic=answer.off_topic), title="No answer yet", kind="no_match")
    text = DECLINE if answer.compared is None else NO_COMPARISON.format(framework=answer.compared)
    if suggestions:
        text += "\n\nThe nearest entries I have, in case one of them helps:"
    return Reply(text, title="No answer yet", buttons=tuple(suggestions), docs=answer.docs, kind="no_match")


def render_entry(entry: Entry, question_id: int | None, related: list[Entry] | None = None,
                 alternative: Entry | None = None) -> Reply:
    """An entry as an answer: its text, its citation, and what to do next (a close alternative first)."""
    buttons = _related_buttons(related or [])
    if entry.demo:
        buttons.append(Button(f"demo:run:{entry.demo}", f"Run the demo: {entry.demo}", style="primary"))
    if question_id is not None:
        buttons.append(Button(f"feedback:up:{question_id}", "👍 Helpful"))
        buttons.append(Button(f"feedback:down:{question_id}", "👎 Not helpful"))
    text = chat_escape(entry.answer)
    if alternative is not None:
        text = CLOSE_CALL.format(other=chat_escape(alternative.question)) + "\n\n" + text
    return Reply(text, title=entry.question, citation=_citation(entry), buttons=tuple(buttons),
                 docs=docs_links.links(entry.docs), kind="answer")


def _related_buttons(entries: list[Entry]) -> list[Button]:
    return [Button(f"ask:entry:{e.id}", _label(e.question)) for e in entries]


def _label(text: str) -> str:
    text = plain_text(text)  # before cutting, so marks do not use up the room
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1].rstrip() + "…"


def _citation(entry: Entry) -> str:
    source = entry.source.rsplit("/", 1)[-1] if entry.source else "knowledge base"
    return f"{entry.id} ({source})"
