"""The quiz questions this process showed, kept in memory so an answer to one can be checked and graded while
the database cannot be read (PostgreSQL holding a lock on `quiz_sessions`/`quiz_attempts` themselves).

Filled whenever a session is shown, created or read; bounded, the least recently used session going first.
What it says may be behind what another process did since: the kept answer is checked again by the database
when it is recorded (bot.core.learning.quizzes), so a stale entry costs at worst an answer dropped on replay
(logged), never a forged or doubled one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bot.core.bounded import Bounded
from bot.core.conversation import Request
from bot.db import quiz_repo as repo
from bot.db.models import Channel, User
from bot.db.quiz_models import ACTIVE, FINISHED, QuizSession

LIMIT = 2000  # sessions; a few hundred bytes each

ChannelKey = tuple[str, str | None, str]  # platform, workspace, platform channel id
PersonKey = tuple[str, str]  # platform, platform user id


def channel_key(request: Request) -> ChannelKey:
    return request.platform, request.workspace_id, request.channel_id


def person_key(request: Request) -> PersonKey:
    return request.platform, request.user.platform_id


@dataclass
class ShownSession:
    """A session as this process last saw it, with who may answer it and who did."""

    quiz: QuizSession  # a detached copy
    channel: ChannelKey
    owner: PersonKey | None
    owner_name: str | None
    answered: set[tuple[int, PersonKey]] = field(default_factory=set)


class ShownQuestions:
    """Sessions shown by this process, and the question each person's next typed answer goes to."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._sessions: Bounded[int, ShownSession] = Bounded(limit)
        self._prompts: Bounded[tuple[ChannelKey, PersonKey], tuple[int, int]] = Bounded(limit)
        self._lock = threading.Lock()

    def remember(self, quiz: QuizSession, channel: Channel, owner: User | None) -> None:
        """The session as just read or written (its answers so far are kept)."""
        with self._lock:
            old = self._sessions.get(quiz.id)
            self._sessions.put(quiz.id, ShownSession(
                repo.detached_copy(quiz), (channel.platform, channel.workspace_id, channel.platform_channel_id),
                (owner.platform, owner.platform_user_id) if owner else None,
                (owner.display_name or owner.platform_user_id) if owner else None,
                old.answered if old else set()))

    def get(self, session_id: int) -> ShownSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def answered(self, session_id: int, slot: int, request: Request, *, advance: bool) -> None:
        """An answer was recorded or kept: the person has answered `slot`, and a personal quiz moves on."""
        with self._lock:
            shown = self._sessions.get(session_id)
            if shown is None:
                return
            shown.answered.add((slot, person_key(request)))
            if advance and shown.quiz.current_index == slot:
                following = slot + 1
                shown.quiz = repo.detached_copy(shown.quiz, current_index=following,
                                                state=ACTIVE if following < shown.quiz.total else FINISHED)
            self._prompts.pop((channel_key(request), person_key(request)), None)

    def point(self, channel: Channel, user: User, session_id: int, slot: int) -> None:
        """This person's next typed answer in this channel goes to `slot` of the session."""
        with self._lock:
            key = ((channel.platform, channel.workspace_id, channel.platform_channel_id),
                   (user.platform, user.platform_user_id))
            self._prompts.put(key, (session_id, slot))

    def prompt(self, request: Request) -> tuple[int, int] | None:
        with self._lock:
            return self._prompts.get((channel_key(request), person_key(request)))
