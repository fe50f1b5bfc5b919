"""Answers in threads: a mention answered in its own thread, follow-ups read with the thread's earlier question,
and "Ask torchtutor" on someone's message, answered privately with a button that posts it in the thread.

A thread is named by the id of the message it hangs on (`Request.thread_id`). The bot remembers, per thread, the
question its latest answer there was found for (`conversation_threads`). A follow-up is answered on its own
when that works; when alone it is declined, ambiguous, or weaker than read together with that question, the two
are read together and the answer says so and which entry it used.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from bot.core.answering.answers import QuestionAnswering, render_answer, render_entry
from bot.core.answering.matching import Answer
from bot.core.conversation import Button, Reply, Request
from bot.core.errors import BadInput, Forbidden, NotFound
from bot.core.identity import channel_of
from bot.core.text import chat_escape, plain_text
from bot.db import repo, thread_repo
from bot.db.availability import unless_unavailable
from bot.db.engine import Database

POST_LABEL = "Post in thread"
CONTEXT_SHOWN = 120
FOLLOW_UP_NOTE = "_A follow-up to “{context}”, so I read the two together: answered from `{entry}`._"
ALREADY_POSTED = "That answer is in the thread already."
# The last exception line of a traceback, or an error line pasted alone: `RuntimeError: Expected all ...`,
# `torch.OutOfMemoryError: CUDA out of memory`, `ValueError`.
_EXCEPTION_LINE = re.compile(r"^\s*((?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Warning|Interrupt|Exit))"
                             r"(?::\s*(.*\S))?\s*$", re.MULTILINE)
_TRACEBACK_LINE = re.compile(r"^\s*(Traceback \(most recent call last\)|File \".*\", line \d+|\^+|~+)")
_FENCE = re.compile(r"^\s*```\w*\s*$")
ERROR_LIMIT = 400


@dataclass(frozen=True)
class ThreadState:
    """What the bot knows of a thread: the question read with follow-ups, and whether it opened the thread."""

    context: str
    started: bool


class ThreadAnswers:
    """`/ask` and mentions inside threads, unaddressed replies in the bot's threads, and "Ask torchtutor"."""

    def __init__(self, qa: QuestionAnswering, database: Database) -> None:
        self.qa, self.database = qa, database

    async def ask(self, request: Request) -> Reply:
        """A question: in a thread, read with the thread's earlier question; elsewhere as `/ask` answers it."""
        if not request.thread_id:
            return await self.qa.ask(request)
        if not request.text.strip():
            raise BadInput("Ask me a PyTorch question, for example `how do I move a tensor to the GPU?`")
        # Without the database (busy), a mention is still answered: on its own, and not remembered.
        state = await unless_unavailable(None, self._state, request)
        # A mention that opens a thread names its own message; one inside someone else's thread does not.
        opens = state.started if state is not None else request.target == request.thread_id
        reply, _ = await self._answer(request, state, opens=opens)
        return reply

    async def thread_reply(self, request: Request) -> AsyncIterator[Reply]:
        """A reply in a thread that does not mention the bot: answered only in threads the bot opened, and only
        with an answer (a "thanks!" gets no "I don't know"); a declined question there is still noted."""
        if not request.thread_id or not request.text.strip():
            return
        state = await unless_unavailable(None, self._state, request)  # unknown: not the bot's to answer
        if state is None or not state.started:
            return
        reply, answer = await self._answer(request, state, opens=True, record_declined="?" in request.text)
        if answer.answered:
            yield reply

    async def ask_message(self, request: Request) -> Reply:
        """"Ask torchtutor" on a message: its error line (or its text) answered privately, with a button that
        posts the answer in the message's thread."""
        question = question_in_message(request.text)
        if not question:
            raise BadInput("That message has no text I can answer (images and embeds are not read).")
        asked = replace(request, text=question)
        answer, question_id = await self.qa.answer_and_record(asked)
        reply = render_answer(answer, question_id)
        # A message inside a thread is answered in that thread; any other opens one on itself.
        thread = request.thread_id or request.target
        if answer.answered and question_id is not None and thread:
            post = Button(f"ask:post:{question_id}:{thread}", POST_LABEL, style="primary")
            reply = replace(reply, buttons=(post, *reply.buttons))
        lead = f"_You asked about this message: “{chat_escape(_shown(question))}”._\n\n"
        return replace(reply, text=lead + reply.text, ephemeral=True)

    async def action(self, request: Request) -> Reply:
        """The `ask:` buttons: a related entry (`ask:entry:<id>`) or "Post in thread" (`ask:post:<qid>:<target>`)."""
        if (request.action or "").startswith("ask:post:"):
            return await self.post(request)
        return await self.qa.show_entry(request)

    async def post(self, request: Request) -> Reply:
        """The "Post in thread" button: the private answer, posted for everyone in the message's thread."""
        parts = (request.action or "").split(":")
        if len(parts) != 4 or not parts[2].isdigit() or len(parts[2]) > 18 or not parts[3] or len(parts[3]) > 64:
            raise BadInput("That button is malformed.")
        question_id, target = int(parts[2]), parts[3]
        entry_id = await asyncio.to_thread(self._claim_post, request, question_id, target)
        entry = self.qa.service.knowledge.index.by_id.get(entry_id)
        if entry is None:
            raise NotFound("That entry is no longer in the knowledge base.")
        return replace(render_entry(entry, question_id), in_thread_of=target)

    # -- the answer, read with the thread -----------------------------------------------------------------

    async def _answer(self, request: Request, state: ThreadState | None, *, opens: bool,
                      record_declined: bool = True) -> tuple[Reply, Answer]:
        started = time.perf_counter()
        answer, read_with = await self._resolve(request.text, state.context if state else "")
        if not answer.answered and not record_declined:
            return render_answer(answer, None), answer
        _, question_id = await self.qa.keep(request, answer, started=started)
        context = read_with or request.text
        if answer.answered or state is None:
            await unless_unavailable(None, self._remember, request, context, answer, question_id, opens)
        reply = render_answer(answer, question_id)
        if read_with and answer.hit is not None:
            note = FOLLOW_UP_NOTE.format(context=chat_escape(_shown(state.context if state else "")),
                                         entry=answer.hit.entry.id)
            reply = replace(reply, text=note + "\n\n" + reply.text)
        return reply, answer

    async def _resolve(self, text: str, context: str) -> tuple[Answer, str]:
        """The answer to a follow-up, and the text it was read as when the thread's question was needed ("")."""
        service = self.qa.service
        alone = await service.answer_async(text)
        if not context.strip():
            return alone, ""
        together = f"{context} {text}"
        combined = await service.answer_async(together)
        if _better(combined, alone):
            return replace(combined, question=text), together
        return alone, ""

    # -- what is stored -----------------------------------------------------------------------------------

    def _state(self, request: Request) -> ThreadState | None:
        with self.database.session() as session:
            thread = thread_repo.find_thread(session=session, platform=request.platform,
                                             workspace_id=request.workspace_id, thread_id=request.thread_id)
            return None if thread is None else ThreadState(thread.context, thread.started)

    def _remember(self, request: Request, context: str, answer: Answer, question_id: int | None,
                  opens: bool) -> None:
        entry_id = answer.hit.entry.id if answer.answered and answer.hit else None
        with self.database.transaction() as session:
            thread_repo.save_thread(session=session, channel=channel_of(session, request), thread_id=request.thread_id,
                                    context=context, entry_id=entry_id, question_id=question_id,
                                    asker=request.user.platform_id, started=opens)

    def _claim_post(self, request: Request, question_id: int, target: str) -> str:
        """The entry of the asker's private answer, with the thread on `target` now remembered as holding it;
        Forbidden for anyone else's answer, BadInput when it was posted already."""
        with self.database.transaction() as session:
            question = repo.find_question(session=session, question_id=question_id)
            if question is None or question.entry_id is None:
                raise NotFound("I can't find that answer any more.")
            if repo.question_asker(session=session, question_id=question_id) != (request.platform,
                                                                                  request.user.platform_id):
                raise Forbidden("Only the person who asked can post that answer.")
            if thread_repo.thread_of_question(session=session, question_id=question_id) is not None:
                raise BadInput(ALREADY_POSTED)
            thread_repo.save_thread(session=session, channel=channel_of(session, request), thread_id=target,
                                    context=question.text,
                                    entry_id=question.entry_id, question_id=question_id,
                                    asker=request.user.platform_id)
            return question.entry_id


def _better(combined: Answer, alone: Answer) -> bool:
    """Whether the follow-up read with the thread's question is the better reading: it finds an answer that the
    follow-up alone does not (declined), finds without doubt where alone it is torn between two entries, or
    finds another entry scoring higher."""
    if not combined.answered or combined.hit is None:
        return False
    if not alone.answered or alone.hit is None:
        return True
    if combined.hit.entry.id == alone.hit.entry.id:
        return False
    if alone.alternative is not None and combined.alternative is None:
        return True
    return combined.hit.score > alone.hit.score


def _shown(text: str) -> str:
    text = " ".join(plain_text(text).split())
    return text if len(text) <= CONTEXT_SHOWN else text[: CONTEXT_SHOWN - 1].rstrip() + "…"


def question_in_message(text: str) -> str:
    """What to ask about a message: its last exception line when it holds a traceback or an error (the type and
    PyTorch's error string weigh most, so the rest is left out), else its prose without code fences."""
    found = list(_EXCEPTION_LINE.finditer(text))
    if found:
        last = found[-1]
        kind, message = last.group(1).rsplit(".", 1)[-1], (last.group(2) or "").strip()
        return f"{kind}: {message}"[:ERROR_LIMIT] if message else kind
    lines = [line for line in text.splitlines() if not _FENCE.match(line) and not _TRACEBACK_LINE.match(line)]
    return "\n".join(lines).strip()
