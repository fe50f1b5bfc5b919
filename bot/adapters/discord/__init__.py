"""The Discord adapter: slash commands, buttons and mentions over discord.py, as a thin layer over the core."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bot.adapters.discord.client import TorchtutorDiscord, intents, question_suggester
from bot.adapters.discord.translate import PLATFORM

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runtime import Runtime

__all__ = ["DiscordAdapter", "TorchtutorDiscord", "build_client", "start_discord"]

log = logging.getLogger(__name__)
READY_POLL_S = 0.2


def build_client(runtime: Runtime, settings: Settings, **options: Any) -> TorchtutorDiscord:
    """A client for this runtime's Tutor, configured from settings (API URL, development guild, whether to ask for
    the Message Content intent)."""
    from workers.demos import list_demos

    options.setdefault("intents", intents(message_content=settings.discord_message_content))
    return TorchtutorDiscord(
        runtime.tutor,
        demos=list_demos(),
        suggest_questions=question_suggester(lambda: runtime.knowledge.index.entries),
        suggest_topics=runtime.quizzes.quiz.topics_matching if runtime.quizzes is not None else None,
        api_url=settings.discord_api_url,
        guild_id=settings.discord_guild_id,
        telemetry=runtime.metrics,
        outbox=runtime.outbox,
        **options,
    )


async def start_discord(runtime: Runtime, settings: Settings, **options: Any) -> None:
    """Connect to Discord once the knowledge index is ready, and stay connected until cancelled."""
    if settings.discord_token is None:
        raise ValueError("TORCHTUTOR_DISCORD_TOKEN is not set")
    if not runtime.ready:
        log.info("Discord: waiting for the knowledge index before connecting")
        while not runtime.ready:
            await asyncio.sleep(READY_POLL_S)
    client = build_client(runtime, settings, **options)
    async with client:
        await client.start(settings.discord_token.get_secret_value())


class DiscordAdapter:
    """Discord as the runtime starts every adapter (bot.core.adapter.Adapter): `run()` until cancelled."""

    platform = PLATFORM

    def __init__(self, runtime: Runtime, settings: Settings, **options: Any) -> None:
        self.runtime, self.settings, self.options = runtime, settings, options

    async def run(self) -> None:
        """Connect once the index is ready; a refused token or intent is raised for `torchtutor run` to report."""
        await start_discord(self.runtime, self.settings, **self.options)
