"""The shared adapter contract, run against every platform: the test-only minimal adapter (written from
docs/ARCHITECTURE.md alone), Discord (loopback gateway and REST) and Slack (signed requests, loopback Web API)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from bot.core.conversation import Reply
from tests.adapters.contract import RESULT, Harness, Shown, until
from tests.adapters.discord_harness import discord_harness
from tests.adapters.minimal.harness import minimal_harness
from tests.adapters.slack_harness import slack_harness

HARNESSES: dict[str, Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Harness]]] = {
    "minimal": minimal_harness, "discord": discord_harness, "slack": slack_harness}


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with HARNESSES[request.param](request) as connected:
        yield connected


def containing(harness: Harness, words: str) -> Callable[[], list[Shown]]:
    return lambda: [m for m in harness.shown() if words in m.text]


async def test_a_question_is_answered_in_the_requests_channel(harness: Harness) -> None:
    await harness.command("ask", "tensors")
    [answer] = await until(containing(harness, "An answer to tensors"))
    assert "A question" in answer.text and answer.buttons == ("echo:again",)
    [request] = harness.tutor.requests
    assert (request.platform, request.command, request.text) == (harness.platform, "ask", "tensors")
    assert request.channel_id == harness.channel_id


async def test_a_button_press_reaches_the_core_as_its_action(harness: Harness) -> None:
    await harness.command("ask", "tensors")
    await harness.press("echo:again")
    await until(containing(harness, "pressed echo:again"))
    pressed = harness.tutor.requests[-1]
    assert (pressed.action, pressed.command, pressed.platform) == ("echo:again", "", harness.platform)


async def test_a_demo_is_one_message_edited_in_place_ending_with_its_result(harness: Harness) -> None:
    await harness.command("demo", "train-tiny")
    await until(containing(harness, RESULT))
    demo = containing(harness, "Demo: train-tiny")()
    assert len(demo) == 1 and RESULT in demo[0].text  # edited in place, never posted again
    assert not containing(harness, "Running step")()


async def test_the_core_posts_to_a_channel_nobody_asked_in(harness: Harness) -> None:
    assert harness.platform in harness.outbox.platforms
    sent = await harness.outbox.post(harness.platform, harness.workspace_id, harness.channel_id,
                                     Reply("Time for today's question.", kind="study"))
    assert sent
    await until(containing(harness, "Time for today's question."))


async def test_an_error_is_one_line(harness: Harness) -> None:
    await harness.command("ask", "fail")
    [error] = await until(containing(harness, "too short"))
    assert error.text.strip().count("\n") == 0, error.text
