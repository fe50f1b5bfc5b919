"""The shared adapter contract (docs/ARCHITECTURE.md): what every platform's adapter must do, seen from outside.

A platform joins the suite with a `Harness`: it drives the platform the way a person would (its own wire
shapes: a fake gateway, signed requests, an in-memory chat) and reads back what the channel shows. The tests in
test_contract.py run against every harness, with the same `ContractTutor` behind each adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from bot.core.conversation import Button, Progress, Reply, Request
from bot.core.errors import BadInput
from bot.core.outbox import Outbox
from bot.core.tutor import Tutor

RESULT = "Result: the loss fell to 0.0123"
STEPS = 4


class ContractTutor(Tutor):
    """The real Tutor facade with the use cases the contract needs; it records every request it is handed."""

    def __init__(self, step_delay: float = 0.05) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.step_delay = step_delay
        self.command("ask", self._ask)
        self.command("demo", self._demo)
        self.action("echo", self._echo)

    async def _ask(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.text == "fail":
            raise BadInput("That question is too short: ask about a PyTorch idea.")
        return Reply(f"An answer to {request.text}", title="A question", buttons=(Button("echo:again", "Again"),),
                     kind="answer")

    async def _demo(self, request: Request) -> AsyncIterator[Reply]:
        self.requests.append(request)
        first = Reply("Queued.", title="Demo: train-tiny", kind="job", progress=Progress(0.0, "queued"))
        yield first
        for step in range(1, STEPS):
            await asyncio.sleep(self.step_delay)
            yield first.edit(text=f"Running step {step}", progress=Progress(step / STEPS, f"step {step}"))
        yield first.edit(text=RESULT, kind="job_result", progress=Progress(1.0, "succeeded", done=True))

    async def _echo(self, request: Request) -> Reply:
        self.requests.append(request)
        return Reply(f"pressed {request.action}", kind="message")


@dataclass(frozen=True)
class Shown:
    """One message as the channel shows it now: its whole text, and the action ids of its buttons."""

    text: str
    buttons: tuple[str, ...] = ()


class Harness(Protocol):
    """One platform, driven from outside, with its adapter connected to a ContractTutor and an Outbox."""

    platform: str
    workspace_id: str
    channel_id: str
    tutor: ContractTutor
    outbox: Outbox

    async def command(self, name: str, text: str) -> None:
        """A person runs `/name text` in the channel (`demo`: text is the demo's name)."""

    async def press(self, action: str) -> None:
        """The person presses the newest button in the channel whose action id is `action`."""

    def shown(self) -> list[Shown]:
        """The channel's messages from the bot, oldest first, as they look now (edits applied)."""


async def until(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll `condition` against a deadline; its first truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := condition()):
        assert asyncio.get_running_loop().time() < deadline, "the channel never showed it"
        await asyncio.sleep(0.02)
    return result
