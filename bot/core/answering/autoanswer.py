"""Auto-answer channels: in a channel its managers opted in (`/autoanswer on`), every new post gets an answer in
its thread when the bot is sure, and silence otherwise (the post is noted as a knowledge gap).

Sure means a stricter bar than `/ask`'s: the answer threshold plus a margin, and no second entry as close. At most
`per_minute` answers a minute per channel; posts past that are noted, unanswered. The asker's 👎 on an auto-answer
removes it for everyone. Posts in channels that did not opt in are neither answered nor stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from bot.core.answering.answers import QuestionAnswering, render_answer
from bot.core.answering.matching import Answer
from bot.core.bounded import Bounded
from bot.core.conversation import Reply, Request
from bot.core.errors import BadInput
from bot.core.identity import channel_of, switch_here
from bot.db import channel_switches, thread_repo
from bot.db.availability import is_unavailable, unless_unavailable
from bot.db.engine import Database
from bot.db.thread_models import AutoAnswerChannel

log = logging.getLogger(__name__)

SWITCHES = ("on", "off", "status")
REFRESH_S = 10.0  # how stale another process's `/autoanswer on|off` may be seen here
CHANNELS_TRACKED = 4096
NOTE = "_I answer new posts in this channel when I'm sure. Not what you needed? Your 👎 removes this answer._"
SWITCH_REFUSED = "Sorry, only someone who can manage this channel can turn auto-answers on or off."
RETRACTED = "Removed my answer for everyone. Thanks: it is noted, so the people who maintain me can do better."

Place = tuple[str, str, str]  # platform, workspace id, platform channel id


@dataclass(frozen=True)
class AutoAnswerSettings:
    """How sure the bot must be (a margin over the answer threshold), and how often it may speak per channel."""

    margin: float = 0.08
    per_minute: int = 6


class AutoAnswers:
    """`/autoanswer on|off|status`, new posts in opted-in channels ("autoask"), and the asker's 👎 removing one."""

    def __init__(self, qa: QuestionAnswering, database: Database, settings: AutoAnswerSettings, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.qa, self.database, self.settings, self.clock = qa, database, settings, clock
        self._channels: frozenset[Place] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()
        self._recent: Bounded[Place, deque[float]] = Bounded(CHANNELS_TRACKED)

    @property
    def bar(self) -> float:
        """The score an auto-answer must reach."""
        return self.qa.service.threshold + self.settings.margin

    async def command(self, request: Request) -> Reply:
        """`/autoanswer on|off|status` in this channel; on and off are for those who can manage it."""
        word = request.text.strip().lower() or "status"
        if word not in SWITCHES:
            raise BadInput("Use `/autoanswer on`, `/autoanswer off` or `/autoanswer status`.")
        if request.is_direct:
            raise BadInput("Auto-answers are for channels; here I answer every message already.")
        return await asyncio.to_thread(self._switch, request, word)

    async def autoask(self, request: Request) -> AsyncIterator[Reply]:
        """A new post: an answer (for its thread) when the channel opted in and the bot is sure, else nothing."""
        if not request.text.strip() or request.is_direct:
            return
        try:
            if not await asyncio.to_thread(self._opted_in, _place(request)):
                return
            reply = await self._answer(request)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # Nobody asked the bot: a "database busy" reply to a stranger's post would be noise.
            log.warning("skipping an auto-answer: the database is unavailable (%s)", type(exc).__name__)
            return
        if reply is not None:
            yield reply

    async def feedback(self, request: Request) -> Reply:
        """👍/👎 as `QuestionAnswering.feedback` stores them; the asker's 👎 on an auto-answer also removes it."""
        reply = await self.qa.feedback(request)
        _, vote, question_id = (request.action or "").split(":")
        if vote == "down" and await asyncio.to_thread(self._retract, request, int(question_id)):
            return Reply(RETRACTED, ephemeral=True, kind="feedback", retracts=True)
        return reply

    # -- answering ----------------------------------------------------------------------------------------

    async def _answer(self, request: Request) -> Reply | None:
        started = time.perf_counter()
        answer = await self.qa.service.answer_async(request.text)
        if not (self._sure(answer) and self._take_turn(_place(request))):
            await self.qa.keep(request, _withheld(answer), started=started)
            return None
        _, question_id = await self.qa.keep(request, answer, started=started)
        await unless_unavailable(None, self._remember, request, answer, question_id)
        reply = render_answer(answer, question_id)
        return replace(reply, text=f"{reply.text}\n\n{NOTE}", kind="autoanswer")

    def _sure(self, answer: Answer) -> bool:
        return (answer.answered and answer.hit is not None and answer.alternative is None
                and answer.hit.score >= self.bar)

    def _take_turn(self, place: Place) -> bool:
        """Whether this channel may get another answer within the minute (and count it if so)."""
        now = self.clock()
        with self._lock:
            recent = self._recent.get(place) or deque()
            while recent and now - recent[0] >= 60.0:
                recent.popleft()
            if len(recent) >= self.settings.per_minute:
                return False
            recent.append(now)
            self._recent.put(place, recent)
            return True

    # -- what is stored -----------------------------------------------------------------------------------

    def _opted_in(self, place: Place) -> bool:
        if self.clock() - self._loaded_at > REFRESH_S:
            with self.database.session() as session:
                channels = frozenset(channel_switches.channels_on(session=session, switch=AutoAnswerChannel))
            self._channels, self._loaded_at = channels, self.clock()
        return place in self._channels

    def _remember(self, request: Request, answer: Answer, question_id: int | None) -> None:
        entry_id = answer.hit.entry.id if answer.hit else None
        with self.database.transaction() as session:
            thread_repo.save_thread(session=session, channel=channel_of(session, request),
                                    thread_id=request.thread_id or request.target, context=request.text,
                                    entry_id=entry_id, question_id=question_id, asker=request.user.platform_id,
                                    auto=True)

    def _retract(self, request: Request, question_id: int) -> bool:
        """Whether this 👎 removes an auto-answer: its asker pressed it. The bot then stays out of that thread."""
        with self.database.transaction() as session:
            thread = thread_repo.thread_of_question(session=session, question_id=question_id)
            if thread is None or not thread.auto or (thread.platform, thread.asker) != (request.platform,
                                                                                     request.user.platform_id):
                return False
            thread.started = False
            return True

    def _switch(self, request: Request, word: str) -> Reply:
        with self.database.transaction() as session:
            on = switch_here(session, request, AutoAnswerChannel, word, SWITCH_REFUSED)
        self._loaded_at = float("-inf")  # this process sees its own switch at once
        return Reply(self._status(on), kind="autoanswer_status")

    def _status(self, on: bool) -> str:
        if not on:
            return ("Auto-answers are **off** in this channel. Someone who can manage it can turn them on with "
                    "`/autoanswer on`.")
        return (f"Auto-answers are **on** in this channel: every new post gets an answer in its thread when I'm "
                f"sure (a score of at least {self.bar:.2f}, stricter than `/ask`), and nothing otherwise; those "
                f"posts are noted for the people who maintain my knowledge. At most {self.settings.per_minute} "
                f"answers a minute here. The asker's 👎 removes an answer.")


def _place(request: Request) -> Place:
    return request.platform, request.workspace_id, request.channel_id


def _withheld(answer: Answer) -> Answer:
    """An answer the bot kept to itself, stored as declined (so it is listed as a knowledge gap)."""
    return answer if not answer.answered else replace(answer, status="no_match", alternative=None)
