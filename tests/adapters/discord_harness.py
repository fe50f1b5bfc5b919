"""Discord in the shared contract: the real discord.py client against the loopback Discord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord import TorchtutorDiscord
from bot.adapters.discord.translate import PLATFORM
from bot.core.outbox import Outbox
from tests.adapters.contract import ContractTutor, Shown, until
from tests.fakes.discord_server import FakeDiscord, start_fake_discord
from workers.demos import list_demos

OPTION = {"ask": "question", "demo": "name"}  # the slash command option that carries the text


class DiscordHarness:
    platform = PLATFORM

    def __init__(self, fake: FakeDiscord, tutor: ContractTutor, outbox: Outbox) -> None:
        self.fake, self.tutor, self.outbox = fake, tutor, outbox
        self.workspace_id, self.channel_id = str(fake.guild_id), str(fake.channel_id)

    async def command(self, name: str, text: str) -> None:
        sent = await self.fake.send_slash_command(name, {OPTION[name]: text})
        await self.fake.wait_for_ack(sent.id)

    async def press(self, action: str) -> None:
        message_id = await until(lambda: next((int(m["id"]) for m in reversed(self._messages())
                                               if action in _buttons(m)), None))
        sent = await self.fake.send_button_press(message_id, action)
        await self.fake.wait_for_ack(sent.id)

    def shown(self) -> list[Shown]:
        return [Shown(_text(m), _buttons(m)) for m in self._messages()]

    def _messages(self) -> list[dict[str, Any]]:
        return [m for _, m in sorted(self.fake.messages.items())
                if m["channel_id"] == self.channel_id and m["author"]["id"] == str(self.fake.bot_user_id)]


def _text(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
    return "\n".join(p for p in parts if p)


def _buttons(message: dict[str, Any]) -> tuple[str, ...]:
    return tuple(c["custom_id"] for row in message.get("components") or [] for c in row.get("components", [])
                 if "custom_id" in c)


@contextlib.asynccontextmanager
async def discord_harness(request: pytest.FixtureRequest) -> AsyncIterator[DiscordHarness]:
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    tutor, outbox = ContractTutor(), Outbox()
    async with start_fake_discord() as fake:
        client = TorchtutorDiscord(tutor, api_url=fake.api_url, guild_ready_timeout=0.05, demos=list_demos(),
                                   outbox=outbox, edit_interval=0.1)
        runner = asyncio.create_task(client.start("fake-token"))
        try:
            await until(lambda: (client.is_ready() and PLATFORM in outbox.platforms) or runner.done())
            if runner.done():
                runner.result()
            yield DiscordHarness(fake, tutor, outbox)
        finally:
            await client.close()
            await asyncio.wait_for(runner, 10)
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved
