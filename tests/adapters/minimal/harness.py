"""The minimal adapter in the shared contract: events into MinimalChat, its channel read back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.core.outbox import Outbox
from tests.adapters.contract import ContractTutor, Shown, until
from tests.adapters.minimal.adapter import PLATFORM, Event, MinimalAdapter, MinimalChat


class MinimalHarness:
    platform = PLATFORM
    workspace_id = ""
    channel_id = "general"

    def __init__(self, tutor: ContractTutor, outbox: Outbox, chat: MinimalChat) -> None:
        self.tutor, self.outbox, self.chat = tutor, outbox, chat

    async def command(self, name: str, text: str) -> None:
        await self.chat.events.put(Event("ada", self.channel_id, command=name, text=text))

    async def press(self, action: str) -> None:
        await until(lambda: any(action in m.buttons for m in self.chat.channels.get(self.channel_id, [])))
        await self.chat.events.put(Event("ada", self.channel_id, action=action))

    def shown(self) -> list[Shown]:
        return [Shown(m.text, m.buttons) for m in self.chat.channels.get(self.channel_id, [])]


@contextlib.asynccontextmanager
async def minimal_harness(request: pytest.FixtureRequest) -> AsyncIterator[MinimalHarness]:
    tutor, outbox, chat = ContractTutor(), Outbox(), MinimalChat()
    running = asyncio.create_task(MinimalAdapter(tutor, outbox, chat).run())
    try:
        await until(lambda: PLATFORM in outbox.platforms)
        yield MinimalHarness(tutor, outbox, chat)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
