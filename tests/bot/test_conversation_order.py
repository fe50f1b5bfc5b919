"""A reply goes to its own conversation, in order: a terminal prints only its own channel's round results, and
`chat --json` answers lines in the order they were typed, however fast."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json

from bot.adapters.console import ConsoleChat
from bot.core.conversation import Person, Reply, Request
from tests.bot.quiz_fixtures import QuizEnv, RecordingPoster, cache_fixture, env_fixture  # noqa: F401


async def _round_in(env: QuizEnv, channel: str) -> None:
    room = {"channel": channel, "direct": False}
    await env.command("/study start every 6h", admin=True, **room)
    [question] = await env.command("/quiz", **room)
    assert "Team round" in question.text


async def test_round_results_reach_only_the_terminal_of_their_channel(env: QuizEnv) -> None:
    terminal_a, terminal_b = RecordingPoster(), RecordingPoster()
    env.runtime.outbox.register("console", terminal_a, channels=["lab-a"])  # this process: `chat --channel lab-a`
    await _round_in(env, "lab-a")
    await _round_in(env, "lab-b")  # another terminal's round, in another process on the same database
    env.clock.advance(minutes=2)
    await env.tick()
    assert terminal_a.posts and {p.channel_id for p in terminal_a.posts} == {"lab-a"}
    assert "quiz_round_result" in [p.reply.kind for p in terminal_a.posts]
    # lab-b's round was left for its own terminal, which shows its results when its scheduler runs.
    env.runtime.outbox.register("console", terminal_b, channels=["lab-b"])
    await env.tick()
    assert {p.channel_id for p in terminal_b.posts} == {"lab-b"}
    assert "quiz_round_result" in [p.reply.kind for p in terminal_b.posts]


class _Slow:
    """A command that takes a moment before it answers, so an answer out of order would show."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def slow(self, request: Request) -> Reply:
        with contextlib.suppress(TimeoutError):  # answered after /fast, unless lines are answered in order
            await asyncio.wait_for(self.release.wait(), 0.5)
        return Reply("slow done")

    async def fast(self, request: Request) -> Reply:
        self.release.set()  # on a terminal that runs lines side by side, this reply would come first
        return Reply("fast done")


async def test_chat_answers_lines_in_the_order_typed(runtime) -> None:  # type: ignore[no-untyped-def]
    slow = _Slow()
    runtime.tutor.command("slow", slow.slow)
    runtime.tutor.command("fast", slow.fast)
    out = io.StringIO()
    chat = ConsoleChat(runtime.tutor, Person("alice", "alice", is_admin=True), "lab", out=out)
    for line in ("/slow", "/fast", "/study start every 6h", "/study status"):
        await chat.feed(line)
    await chat.drain(30)
    texts = [json.loads(line)["text"] for line in out.getvalue().splitlines()]
    assert texts[:2] == ["slow done", "fast done"]
    assert len(texts) == 4 and "every 6 hours" in texts[3] and "No study schedule here" not in texts[3]
