"""Fixtures of the quiz tests: a runtime with a fake clock and a recording channel poster.

The quiz test modules import the fixture functions (`from tests.bot.quiz_fixtures import env_fixture,
cache_fixture`), which pytest then offers as `env` and `quiz_cache`; no conftest of their own is needed.
The embedding cache is shared by the whole session, so each runtime builds its knowledge index from disk
instead of re-encoding every entry.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.conversation import Person, Reply, Request
from bot.core.learning.features import QuizFeatures
from bot.core.learning.quizzes import label
from bot.core.learning.review import default_scheduler
from bot.core.outbox import Post
from bot.core.text import chat_escape
from bot.db.quiz_models import QuizSession
from bot.runtime import Runtime, build_runtime, install_quizzes
from knowledge.quiz_bank import QuizItem

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday morning


class FakeClock:
    """A settable clock: `clock()` is now, `clock.advance(minutes=5)` moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


@dataclass
class RecordingPoster:
    """A channel poster that keeps what it was asked to post."""

    posts: list[Post] = field(default_factory=list)

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> None:
        self.posts.append(Post(platform, workspace_id, channel_id, reply))


@dataclass
class QuizEnv:
    """A started runtime on a migrated SQLite database, its quiz features on a fake clock."""

    settings: Settings
    embedder: object
    clock: FakeClock
    poster: RecordingPoster
    runtime: Runtime = field(init=False)
    features: QuizFeatures = field(init=False)

    def __post_init__(self) -> None:
        self.runtime, self.features = self._start()

    def _start(self) -> tuple[Runtime, QuizFeatures]:
        runtime = build_runtime(self.settings, encoder=self.embedder)  # type: ignore[arg-type]
        runtime.start()
        features = install_quizzes(runtime, now=self.clock, scheduler=default_scheduler(fuzz=False),
                                   rng=random.Random(7))
        runtime.outbox.register("console", self.poster)
        return runtime, features

    def restart(self) -> None:
        """A new process on the same database: nothing carried over in memory."""
        self.runtime.close()
        self.runtime, self.features = self._start()

    def close(self) -> None:
        self.runtime.close()

    def force_items(self, *item_ids: str) -> None:
        """Make the next quiz ask exactly these items, in this order."""
        bank = self.features.bank

        def pick(pool, count, **_):  # type: ignore[no-untyped-def]
            snapshot = bank.snapshot()
            return [snapshot.get(item_id) for item_id in item_ids]

        self.features.quiz.pick = pick  # type: ignore[assignment]

    @property
    def database(self):  # type: ignore[no-untyped-def]
        return self.runtime.database

    async def send(self, user: str = "alice", *, command: str = "", text: str = "", action: str | None = None,
                   channel: str = "c1", direct: bool = True, admin: bool = False, manager: bool = True,
                   platform: str = "console") -> list[Reply]:
        """Every reply of the Tutor to one request; people manage their channels unless `manager=False`."""
        person = Person(user, user.capitalize(), is_admin=admin, can_manage_channel=manager)
        request = Request(platform=platform, user=person,
                          channel_id=channel, channel_name=channel, command=command, text=text, action=action,
                          is_direct=direct)
        return await self.runtime.tutor.collect(request)

    async def command(self, line: str, user: str = "alice", **options) -> list[Reply]:  # type: ignore[no-untyped-def]
        name, _, rest = line.lstrip("/").partition(" ")
        return await self.send(user, command=name, text=rest, **options)

    async def click(self, button: str, user: str = "alice", **options) -> list[Reply]:  # type: ignore[no-untyped-def]
        return await self.send(user, action=button, **options)

    async def answer(self, text: str, user: str = "alice", **options) -> list[Reply]:  # type: ignore[no-untyped-def]
        return await self.send(user, text=text, **options)

    async def tick(self) -> list[Post]:
        return await self.features.study.study_tick()


@pytest.fixture(scope="session", name="quiz_cache")
def cache_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for every quiz test's runtime.

    A fixed folder under the session's base temp: each module that imports this fixture gets its own copy of
    the fixture, and they must still share one cache.
    """
    path = tmp_path_factory.getbasetemp() / "quiz-embedding-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(name="env")
def env_fixture(migrated: Settings, embedder, quiz_cache: Path) -> Iterator[QuizEnv]:  # type: ignore[no-untyped-def]
    """A started runtime with quiz features on a fake clock, and a recording poster for the console platform."""
    env = QuizEnv(migrated.model_copy(update={"cache_dir": quiz_cache}), embedder, FakeClock(), RecordingPoster())
    yield env
    env.close()


def button(reply: Reply, starts: str) -> str:
    """The id of the reply's first button whose id starts with `starts`."""
    return next(b.id for b in reply.buttons if b.id.startswith(starts))


def choice_button(env: QuizEnv, reply: Reply, number: int) -> str:
    """The id of the button that shows the item's authored choice `number` (1-based), wherever the shuffle put it.

    Found by the button's label, as a person finds it: the stored session says which item the question is.
    """
    answers = [b for b in reply.buttons if b.id.startswith("quiz:answer:")]
    item = shown_item(env, answers[0].id)
    text = item.choices[number - 1].text
    return next(b.id for b in answers if b.label == label(f"{b.label[0]}) {text}"))


def shown_letter(env: QuizEnv, reply: Reply, number: int) -> str:
    """The letter (lower case) the question's text shows before the item's authored choice `number`."""
    answers = [b for b in reply.buttons if b.id.startswith("quiz:answer:")]
    text = chat_escape(shown_item(env, answers[0].id).choices[number - 1].text)
    [letter] = [line[2] for line in reply.text.splitlines() if line == f"**{line[2:3]})** {text}"]
    return letter.lower()


def shown_item(env: QuizEnv, button_id: str) -> QuizItem:
    """The bank item an answer button `quiz:answer:<session>:<slot>:...` belongs to, as authored."""
    session_id, slot = (int(part) for part in button_id.split(":")[2:4])
    with env.database.session() as session:
        quiz = session.get(QuizSession, session_id)
        assert quiz is not None
        item = env.features.bank.snapshot().get(quiz.item_ids[slot])
    assert item is not None
    return item
