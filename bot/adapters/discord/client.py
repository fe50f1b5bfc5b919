"""The Discord client: slash commands, button presses and mentions in; the core's replies out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.adapters.discord import translate
from bot.adapters.discord.commands import PRIVATE_COMMANDS, Suggest, build_commands
from bot.adapters.discord.delivery import EDIT_INTERVAL, ChannelPoster, Conversation, Delivery, ThreadStart, Token
from bot.adapters.discord.render import ALLOWED_MENTIONS, SHOW_MORE_PREFIX, render_page, thread_name
from bot.core.bounded import Bounded
from bot.core.conversation import Request
from bot.core.outbox import Outbox
from bot.core.telemetry import Telemetry
from bot.core.tutor import Tutor
from knowledge.entries import Entry
from workers.demos import Demo

log = logging.getLogger(__name__)

SEEN_CAPACITY = 4096
EXPIRED_PAGES = "That text is no longer available. Run the command again to see it."


def intents(message_content: bool = False) -> discord.Intents:
    """Guilds (and their threads), guild and direct messages; the privileged Message Content intent only when asked
    for (`discord_message_content`): without it Discord leaves out the text of posts that do not mention the bot,
    so auto-answers and unaddressed follow-ups in threads stay silent."""
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True, message_content=message_content)


class TorchtutorDiscord(discord.AutoShardedClient):
    """A thin adapter: translate an interaction or mention, call `tutor.handle`, deliver each reply.

    Sharded from the start (one shard until Discord's /gateway/bot recommends more). `api_url` points the REST
    API elsewhere (tests, proxies); the gateway URL then comes from that API's /gateway/bot.
    """

    def __init__(self, tutor: Tutor, *, demos: Sequence[Demo] = (), suggest_questions: Suggest | None = None,
                 suggest_topics: Suggest | None = None, api_url: str | None = None, guild_id: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 edit_interval: float = EDIT_INTERVAL, telemetry: Telemetry | None = None,
                 outbox: Outbox | None = None, **options: Any) -> None:
        options.setdefault("intents", intents())
        super().__init__(allowed_mentions=ALLOWED_MENTIONS, **options)
        self.tutor = tutor
        self.api_url = api_url.rstrip("/") if api_url else None
        self.guild_id = guild_id
        self.tree: app_commands.CommandTree[TorchtutorDiscord] = app_commands.CommandTree(self)
        for command in build_commands(self, demos, suggest_questions, suggest_topics):
            self.tree.add_command(command)
        self.delivery = Delivery(self, clock=clock, edit_interval=edit_interval, telemetry=telemetry,
                                 shown=tutor.shown)
        self.outbox = outbox
        self.poster = ChannelPoster(self.delivery)
        self._seen: Bounded[tuple[str, int], None] = Bounded(SEEN_CAPACITY)
        self._conversations: set[asyncio.Task[Any]] = set()
        self._saved_endpoints: tuple[str, yarl.URL] | None = None

    # -- life cycle -----------------------------------------------------------------------------------------

    async def login(self, token: str) -> None:
        """Log in, against `api_url` when one is set."""
        if self.api_url is not None and self._saved_endpoints is None:
            # discord.py builds every REST URL (bot and interaction webhooks alike) from Route.BASE.
            self._saved_endpoints = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
            Route.BASE = self.api_url
        await super().login(token)

    async def setup_hook(self) -> None:
        """Take the gateway from the API's /gateway/bot, then sync the slash commands."""
        if self.api_url is not None:
            # Shards ask /gateway/bot on launch, but a shard that must identify afresh uses DEFAULT_GATEWAY.
            _shards, url, _limits = await self.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Register the commands globally, or in one guild for development (instant, no global cache)."""
        try:
            if self.guild_id is not None:
                guild = discord.Object(id=self.guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("synced %d slash commands to guild %s", len(synced), self.guild_id)
            else:
                synced = await self.tree.sync()
                log.info("synced %d slash commands globally", len(synced))
        except discord.HTTPException as exc:
            log.error("could not sync slash commands (%s); existing registrations stay in place", exc)

    async def on_ready(self) -> None:
        """Connected (again): study channels on Discord can be posted to from now on."""
        if self.outbox is not None:
            self.outbox.register(translate.PLATFORM, self.poster)

    async def close(self) -> None:
        """Stop posting, conversations and edits, close the connection, and restore discord.py's endpoints."""
        if self.outbox is not None:
            self.outbox.unregister(translate.PLATFORM)
        current = asyncio.current_task()
        running = [task for task in self._conversations if task is not current]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        await self.delivery.close()
        try:
            await super().close()
        finally:
            if self._saved_endpoints is not None:
                Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints
                self._saved_endpoints = None

    # -- events ---------------------------------------------------------------------------------------------

    async def run_command(self, interaction: discord.Interaction, command: str, text: str, target: str = "") -> None:
        """A slash or message command (`target`: the message it was used on): defer at once (the 3-second window),
        then let the core answer."""
        if not self._first_time("interaction", interaction.id):
            return
        private = command in PRIVATE_COMMANDS
        token = await self._acknowledge(interaction, ephemeral=private, thinking=True)
        conversation = Conversation(self.delivery, channel_id=interaction.channel_id or 0, token=token,
                                    deferred_ephemeral=private, in_thread=_in_thread(interaction))
        await self._converse(translate.command_request(interaction, command, text, target), conversation)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A button press: its custom_id is the core's action id (works across restarts: nothing is stored)."""
        if interaction.type is not discord.InteractionType.component:
            return
        data: Mapping[str, Any] = interaction.data or {}
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id or not self._first_time("interaction", interaction.id):
            return
        if custom_id.startswith(SHOW_MORE_PREFIX + ":"):
            await self._show_more(interaction, custom_id)
            return
        token = await self._acknowledge(interaction, ephemeral=False, thinking=False)
        pressed = interaction.message
        if token is not None and pressed is not None:
            self.delivery.rearm(pressed.id, token)
        conversation = Conversation(self.delivery, channel_id=interaction.channel_id or 0, token=token,
                                    pressed=pressed, in_thread=_in_thread(interaction))
        await self._converse(translate.action_request(interaction, custom_id), conversation)

    async def on_message(self, message: discord.Message) -> None:
        """A mention or a DM (a question, "help", a "/command"), a follow-up in a thread, or a new post for an
        auto-answer (`translate.route_message`); a top-level post is answered in a thread started on it."""
        if self.user is None:
            return
        route = translate.route_message(message, self.user.id)
        # Unaddressed posts go only to a core that reads them: the Tutor answers unknown commands with an error.
        if route is None or (route.unsolicited and route.command not in self.tutor.command_names):
            return
        if not self._first_time("message", message.id):
            return
        thread = None
        if route.opens_thread:
            thread = ThreadStart(message.id, thread_name(translate.mention_text(message, self.user.id)))
        conversation = Conversation(self.delivery, channel_id=message.channel.id, source=message, thread=thread,
                                    in_thread=isinstance(message.channel, discord.Thread),
                                    unsolicited=route.unsolicited)
        await self._converse(translate.message_request(message, route), conversation)

    # -- helpers --------------------------------------------------------------------------------------------

    async def _acknowledge(self, interaction: discord.Interaction, *, ephemeral: bool,
                           thinking: bool) -> Token | None:
        """Defer the interaction; None if Discord no longer knows it (answered too late)."""
        try:
            await interaction.response.defer(ephemeral=ephemeral, thinking=thinking)
        except discord.InteractionResponded:
            pass
        except discord.HTTPException as exc:
            log.warning("could not acknowledge interaction %s (%s); answering in the channel", interaction.id, exc)
            return None
        return self.delivery.token(interaction)

    async def _converse(self, request: Request, conversation: Conversation) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conversations.add(task)
        try:
            async for reply in self.tutor.handle(request):
                await conversation.deliver(reply)
        finally:
            try:
                await conversation.finish()
            finally:
                if task is not None:
                    self._conversations.discard(task)

    async def _show_more(self, interaction: discord.Interaction, custom_id: str) -> None:
        """The next page of a long reply, for the presser alone; answered at once (pages are in memory)."""
        page = translate.show_more_page(custom_id, SHOW_MORE_PREFIX)
        kept = self.delivery.pages(page[0]) if page is not None else None
        if page is None or kept is None:
            await interaction.response.send_message(EXPIRED_PAGES, ephemeral=True, allowed_mentions=ALLOWED_MENTIONS)
            return
        title, pages = kept
        rendered = render_page(title, pages, page[1], f"{SHOW_MORE_PREFIX}:{page[0]}")
        await interaction.response.send_message(ephemeral=True, **rendered.send_kwargs())

    def _first_time(self, kind: str, ident: int) -> bool:
        """False for an interaction or message already handled (a redelivery must not answer twice)."""
        key = (kind, ident)
        if key in self._seen:
            return False
        self._seen.put(key, None)
        return True


def _in_thread(interaction: discord.Interaction) -> bool:
    return isinstance(interaction.channel, discord.Thread)


def question_suggester(entries: Callable[[], Iterable[Entry]]) -> Suggest:
    """Entry questions that contain every word typed so far (questions starting with it first)."""

    def suggest(current: str) -> list[str]:
        typed = current.strip().lower()
        words = typed.split()
        found = [e.question for e in entries()
                 if all(w in e.question.lower() or any(w in a.lower() for a in e.aliases) for w in words)]
        found.sort(key=lambda q: (not q.lower().startswith(typed), q.lower()))
        return found

    return suggest
