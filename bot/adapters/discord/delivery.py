"""Where each reply went on Discord, and how later replies reach it: follow-ups, coalesced edits, fallbacks.

A reply is posted once. Later replies that edit it go through the interaction's webhook while its token is
young (tokens live 15 minutes), else through the channel message with the bot's own token. Edits to one
message are coalesced: while one is in flight only the newest pending edit is kept, and a message is edited
at most once per `edit_interval`. discord.py itself retries 429s (after Retry-After) and 5xx answers.

A top-level message is answered in a thread started on it, once the first reply to post exists (a request that
yields nothing leaves no empty thread behind); where Discord refuses the thread, the answer is a reply in the
channel as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

import discord

from bot.adapters.api_errors import api_error_kind
from bot.adapters.discord.render import SHOW_MORE_PREFIX, Rendered, render, thread_name
from bot.adapters.discord.translate import PLATFORM
from bot.core.bounded import Bounded
from bot.core.conversation import Placement, Reply
from bot.core.telemetry import NoTelemetry, Telemetry
from bot.core.tutor import ShownHandler

log = logging.getLogger(__name__)

TOKEN_MAX_AGE = 14 * 60.0  # a minute short of Discord's 15, so no edit races the expiry
EDIT_INTERVAL = 1.0
CAPACITY = 10_000
# Unknown Webhook, Invalid Webhook Token, Unknown Interaction: the interaction's token can no longer be used.
_TOKEN_GONE_CODES = frozenset({10015, 50027, 10062})
THREAD_EXISTS = 160004  # "A thread has already been created for this message": that thread has the message's id
THREAD_ARCHIVE_MINUTES: Final = 1440  # a day without messages hides the thread


def token_rejected(exc: discord.HTTPException) -> bool:
    """Whether Discord refused an interaction webhook call because the token has expired."""
    return exc.status == 401 or exc.code in _TOKEN_GONE_CODES


@dataclass(eq=False)
class Token:
    """An acknowledged interaction, whose webhook token can post and edit for 15 minutes."""

    interaction: discord.Interaction
    received_at: float
    dead: bool = False


@dataclass(frozen=True)
class ThreadStart:
    """A thread to start on a top-level message when the first reply to it is posted."""

    message_id: int
    name: str


@dataclass(eq=False)
class Posted:
    """A message the bot posted for a reply, and the state of its pending edits."""

    message_id: int
    channel_id: int
    ephemeral: bool
    token: Token | None
    original: bool  # edit through the token's @original (a filled deferral, or the message a button sat on)
    pending: Rendered | None = None
    pump: asyncio.Task[None] | None = None
    last_edit: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    gone: bool = False


class Delivery:
    """The bot's memory of posted replies, and the edit pumps that keep them current."""

    def __init__(self, client: discord.Client, *, clock: Callable[[], float] = time.monotonic,
                 edit_interval: float = EDIT_INTERVAL, token_max_age: float = TOKEN_MAX_AGE,
                 capacity: int = CAPACITY, telemetry: Telemetry | None = None,
                 shown: ShownHandler | None = None) -> None:
        self.client = client
        self.shown = shown
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self.clock = clock
        self.edit_interval = edit_interval
        self.token_max_age = token_max_age
        self._replies: Bounded[str, Posted] = Bounded(capacity)
        self._messages: Bounded[int, Posted] = Bounded(capacity)
        self._pages: Bounded[str, tuple[str | None, tuple[str, ...]]] = Bounded(capacity // 10 or 1)
        self._pumps: set[asyncio.Task[None]] = set()

    def api_error(self, exc: discord.HTTPException) -> None:
        """Count a failed call to Discord's API (`torchtutor_platform_api_errors`)."""
        self.telemetry.platform_api_error(platform="discord", kind=api_error_kind(getattr(exc, "status", None)))

    # -- tokens ---------------------------------------------------------------------------------------------

    def token(self, interaction: discord.Interaction) -> Token:
        """The token of an interaction acknowledged now."""
        return Token(interaction, self.clock())

    def usable(self, token: Token | None) -> bool:
        """Whether this token may still be used: not refused yet, and young enough."""
        return token is not None and not token.dead and self.clock() - token.received_at < self.token_max_age

    # -- what was posted where ------------------------------------------------------------------------------

    def remember(self, reply_id: str, posted: Posted) -> None:
        """Reply `reply_id` is shown by `posted`."""
        self._replies.put(reply_id, posted)
        self._messages.put(posted.message_id, posted)

    async def posted(self, reply: Reply, posted: Posted) -> None:
        """A reply is on screen: say where, so another process (after a restart) can edit it too."""
        if self.shown is not None and not posted.ephemeral:
            await self.shown(reply, Placement(PLATFORM, "", str(posted.channel_id),
                                              {"message_id": str(posted.message_id)}))

    def find(self, reply_id: str) -> Posted | None:
        """The message that shows this reply, if the bot still remembers it."""
        return self._replies.get(reply_id)

    def by_message(self, message_id: int) -> Posted | None:
        """What the bot remembers of one of its messages."""
        return self._messages.get(message_id)

    def forget(self, message_id: int) -> None:
        """One of the bot's messages was deleted: no more edits of it."""
        posted = self._messages.get(message_id)
        if posted is not None:
            posted.gone = True

    async def open_thread(self, channel_id: int, message_id: int, name: str) -> int | None:
        """Start the public thread on a message, or find the one already started on it (a thread started on a
        message has the message's id); None where Discord refuses (no permission, not a text channel)."""
        try:
            data = await self.client.http.start_thread_with_message(
                channel_id, message_id, name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES)
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                return message_id
            self.api_error(exc)
            log.warning("could not start a thread on message %s (%s); answering in the channel", message_id, exc)
            return None
        return int(data["id"])

    def rearm(self, message_id: int, token: Token) -> None:
        """A button on this message was pressed: that fresher token can edit it (as @original) from now on."""
        posted = self._messages.get(message_id)
        if posted is not None:
            posted.token, posted.original = token, True

    def render(self, reply: Reply) -> Rendered:
        """A reply as Discord shows it; its overflow pages are kept for the Show more button."""
        root = reply.edits or reply.id
        rendered = render(reply, more_id=f"{SHOW_MORE_PREFIX}:{root}")
        if rendered.more:
            self.keep_pages(root, rendered.title, rendered.more)
        return rendered

    def keep_pages(self, key: str, title: str | None, pages: tuple[str, ...]) -> None:
        """The overflow pages of a long reply, for its Show more button."""
        self._pages.put(key, (title, pages))

    def pages(self, key: str) -> tuple[str | None, tuple[str, ...]] | None:
        """The overflow pages kept under `key`, if still kept."""
        return self._pages.get(key)

    # -- edits ----------------------------------------------------------------------------------------------

    def edit(self, posted: Posted, rendered: Rendered) -> None:
        """Queue an edit; it replaces any edit of this message still waiting to be sent."""
        if posted.gone:
            return
        posted.pending = rendered
        if posted.pump is None:
            posted.pump = asyncio.create_task(self._pump(posted), name=f"discord-edit-{posted.message_id}")
            self._pumps.add(posted.pump)
            posted.pump.add_done_callback(self._pumps.discard)

    async def flush(self, posted: list[Posted]) -> None:
        """Wait until these messages' pending edits have been sent."""
        pumps = {p.pump for p in posted if p.pump is not None}
        if pumps:
            await asyncio.wait(pumps)

    async def close(self) -> None:
        """Stop sending edits."""
        for pump in list(self._pumps):
            pump.cancel()
        if self._pumps:
            await asyncio.wait(set(self._pumps))

    async def _pump(self, posted: Posted) -> None:
        loop = asyncio.get_running_loop()
        try:
            while posted.pending is not None and not posted.gone:
                delay = posted.last_edit + self.edit_interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                rendered, posted.pending = posted.pending, None
                await self._edit_now(posted, rendered)
                posted.last_edit = loop.time()
        finally:
            posted.pump = None

    async def _edit_now(self, posted: Posted, rendered: Rendered) -> None:
        try:
            if self.usable(posted.token) and await self._edit_through_token(posted, rendered):
                return
            if posted.ephemeral:
                log.info("message %s is ephemeral and its interaction token has expired: edit dropped",
                         posted.message_id)
                posted.gone = True
                return
            channel = self.client.get_partial_messageable(posted.channel_id)
            await channel.get_partial_message(posted.message_id).edit(**rendered.edit_kwargs())
        except discord.NotFound:
            log.info("message %s is gone (deleted?): no more edits", posted.message_id)
            posted.gone = True
        except discord.HTTPException as exc:
            self.api_error(exc)
            log.warning("could not edit message %s: %s", posted.message_id, exc)

    async def _edit_through_token(self, posted: Posted, rendered: Rendered) -> bool:
        """Edit through the interaction webhook; False when the token turned out to be expired."""
        assert posted.token is not None
        interaction = posted.token.interaction
        try:
            if posted.original:
                await interaction.edit_original_response(**rendered.edit_kwargs())
            else:
                await interaction.followup.edit_message(posted.message_id, **rendered.edit_kwargs())
        except discord.HTTPException as exc:
            if not token_rejected(exc):
                raise
            log.info("interaction token expired; editing message %s in its channel instead", posted.message_id)
            posted.token.dead = True
            return False
        return True


class Conversation:
    """The replies to one request, in order: the first fills the acknowledgement, later ones follow up or edit."""

    def __init__(self, delivery: Delivery, *, channel_id: int, token: Token | None = None,
                 deferred_ephemeral: bool | None = None, pressed: discord.Message | None = None,
                 source: discord.Message | None = None, thread: ThreadStart | None = None,
                 in_thread: bool = False, unsolicited: bool = False) -> None:
        self.delivery = delivery
        self.channel_id = channel_id  # where replies go: becomes the thread once `thread` is started
        self.token = token
        self._thread_start = thread
        self.in_thread = in_thread  # the request came from inside a thread (channel_id is that thread)
        # Nobody addressed the bot (an auto-answer, a follow-up without a mention): a private reply has nowhere to go.
        self.unsolicited = unsolicited
        # Not None while a deferred "thinking" response waits for the first reply, and whether it is ephemeral.
        self._awaiting: bool | None = deferred_ephemeral if token is not None else None
        self._pressed = pressed
        self._source = source
        self._replied = False
        self._apologised = False
        self._touched: list[Posted] = []

    async def deliver(self, reply: Reply) -> None:
        """Show one reply: edit the message it replaces, or post it (in the thread it names, if it names one);
        a retracting reply first deletes the message whose button was pressed."""
        if reply.retracts:
            await self._retract()
            reply = replace(reply, ephemeral=True)
        root = reply.edits or reply.id
        post: Awaitable[Posted | None]
        if reply.in_thread_of is not None and reply.edits is None:
            rendered = self.delivery.render(replace(reply, ephemeral=False))
            post = self._post_in_thread_of(rendered, reply.in_thread_of, name=thread_name(reply.title or reply.text),
                                           nonce=reply.id)
        else:
            rendered = self.delivery.render(reply)
            if reply.edits is not None:
                posted = self.delivery.find(reply.edits) or self._pressed_message()
                if posted is not None:
                    self._track(posted, reply.edits, reply.id)
                    self.delivery.edit(posted, rendered)
                    return
            post = self._post(rendered, nonce=reply.id)
        try:
            new = await post
        except discord.HTTPException as exc:
            self.delivery.api_error(exc)
            log.warning("could not post reply %s: %s", reply.id, exc)
            await self._apologise(reply.id)
            return
        if new is not None:
            self._track(new, root, reply.id)
            await self.delivery.posted(reply, new)

    async def finish(self) -> None:
        """Wait for this conversation's pending edits; never leave a "thinking" placeholder behind."""
        if self._awaiting is not None and self.token is not None and self.delivery.usable(self.token):
            self._awaiting = None
            with contextlib.suppress(discord.HTTPException):
                await self.token.interaction.delete_original_response()
        await self.delivery.flush(self._touched)

    async def _retract(self) -> None:
        """Delete, for everyone and with the bot's token, the message whose button was pressed."""
        if self._pressed is None:
            log.warning("a reply retracts a message, but no button was pressed: nothing deleted")
            return
        message = self.delivery.client.get_partial_messageable(self.channel_id).get_partial_message(self._pressed.id)
        try:
            await message.delete()
        except discord.NotFound:
            pass
        except discord.HTTPException as exc:
            self.delivery.api_error(exc)
            log.warning("could not delete message %s: %s", self._pressed.id, exc)
            return
        self.delivery.forget(self._pressed.id)

    async def _post_in_thread_of(self, rendered: Rendered, target: str, *, name: str, nonce: str) -> Posted:
        """A reply for everyone in the thread on message `target`, posted with the bot's token: in this thread
        when the request came from inside one, else in the thread started on `target` here (or found there)."""
        if self.in_thread or not target.isdigit():
            return await self._send(self.channel_id, rendered, nonce)
        opened = await self.delivery.open_thread(self.channel_id, int(target), name)
        if opened is None:  # no thread: answer the message in its channel
            return await self._send(self.channel_id, rendered, nonce, answering=discord.MessageReference(
                message_id=int(target), channel_id=self.channel_id, fail_if_not_exists=False))
        return await self._send(opened, rendered, nonce)

    async def _apologise(self, reply_id: str) -> None:
        """Say that a reply could not be shown, rather than leave the person waiting on nothing."""
        if self._apologised:
            return
        self._apologised = True
        sorry = render(Reply(f"Sorry, Discord would not show my reply (reference `{reply_id}`).", ephemeral=True,
                             kind="error"))
        try:
            await self._post(sorry, nonce=f"x{reply_id}")
        except discord.HTTPException as exc:
            self.delivery.api_error(exc)
            log.warning("could not apologise for reply %s either: %s", reply_id, exc)

    def _track(self, posted: Posted, *reply_ids: str) -> None:
        for reply_id in reply_ids:
            self.delivery.remember(reply_id, posted)
        if posted not in self._touched:
            self._touched.append(posted)

    def _pressed_message(self) -> Posted | None:
        """The message whose button started this conversation: what an edit of a forgotten reply most likely meant."""
        if self._pressed is None or self.token is None:
            return None
        known = self.delivery.by_message(self._pressed.id)
        if known is not None:
            return known
        return Posted(self._pressed.id, self.channel_id, self._pressed.flags.ephemeral, self.token, original=True)

    async def _post(self, rendered: Rendered, *, nonce: str) -> Posted | None:
        if self.delivery.usable(self.token):
            assert self.token is not None
            try:
                return await self._post_through_token(self.token, rendered)
            except discord.HTTPException as exc:
                if not token_rejected(exc):
                    raise
                log.info("interaction token expired; posting in the channel instead")
                self.token.dead = True
        if rendered.ephemeral and self._source is None:
            log.info("dropping an ephemeral reply: its interaction token has expired")
            return None
        if rendered.ephemeral and self.unsolicited:
            log.info("dropping a private %s reply to a message that did not address the bot", rendered.kind)
            return None
        return await self._post_to_channel(rendered, nonce)

    async def _post_through_token(self, token: Token, rendered: Rendered) -> Posted:
        interaction = token.interaction
        deferred_ephemeral, self._awaiting = self._awaiting, None
        if deferred_ephemeral is not None:
            if rendered.ephemeral == deferred_ephemeral:
                message: Any = await interaction.edit_original_response(**rendered.edit_kwargs())
                return Posted(message.id, self.channel_id, rendered.ephemeral, token, original=True)
            # A deferral's visibility is fixed: replace the placeholder with a message of the right visibility.
            with contextlib.suppress(discord.NotFound):
                await interaction.delete_original_response()
        message = await interaction.followup.send(wait=True, ephemeral=rendered.ephemeral, **rendered.send_kwargs())
        return Posted(message.id, self.channel_id, rendered.ephemeral, token, original=False)

    async def _post_to_channel(self, rendered: Rendered, nonce: str) -> Posted:
        if self._thread_start is not None:
            start, self._thread_start = self._thread_start, None
            opened = await self.delivery.open_thread(self.channel_id, start.message_id, start.name)
            self.channel_id = opened or self.channel_id
        answering = None
        # The first reply answers its message; in the thread started on that message it needs no pointer to it.
        if self._source is not None and not self._replied and self._source.channel.id == self.channel_id:
            self._replied = True
            answering = self._source.to_reference(fail_if_not_exists=False)
        return await self._send(self.channel_id, rendered, nonce, answering)

    async def _send(self, channel_id: int, rendered: Rendered, nonce: str,
                    answering: discord.MessageReference | None = None) -> Posted:
        """Post with the bot's token, as a reply to `answering` when given (without pinging its author)."""
        kwargs = rendered.send_kwargs()
        if answering is not None:
            kwargs["reference"] = answering
            kwargs["mention_author"] = False
        # An enforced nonce makes Discord drop a duplicate if a retried request had in fact gone through.
        message = await self.delivery.client.get_partial_messageable(channel_id).send(nonce=nonce, **kwargs)
        return Posted(message.id, channel_id, False, None, original=False)


class ChannelPoster:
    """Posts the core's unsolicited replies (study questions, round results) to a channel by id, and edits
    messages found by their placement (a demo's message picked up after a restart).

    Rendered exactly like replies, mentions disabled; remembered like replies, so a later button press on the
    message, or a reply that edits it, finds it. Failures are raised for the core's Outbox to log.
    """

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> None:
        root = reply.edits or reply.id
        rendered = self.delivery.render(reply)
        if reply.edits is not None and (known := self.delivery.find(reply.edits)) is not None:
            self.delivery.remember(reply.id, known)
            self.delivery.edit(known, rendered)
            await self.delivery.flush([known])
            return
        if rendered.ephemeral:
            log.warning("a private %s addressed to channel %s is posted for the whole channel", reply.kind, channel_id)
        channel = self.delivery.client.get_partial_messageable(int(channel_id))
        # An enforced nonce makes Discord drop a duplicate if a retried request had in fact gone through.
        message = await channel.send(nonce=reply.id, **rendered.send_kwargs())
        posted = Posted(message.id, int(channel_id), False, None, original=False)
        for reply_id in {root, reply.id}:
            self.delivery.remember(reply_id, posted)

    async def edit(self, placement: Placement, reply: Reply) -> None:
        """Edit a message posted earlier, perhaps by another process, with the bot's token; waits until sent."""
        root = reply.edits or reply.id
        rendered = self.delivery.render(reply)
        posted = self.delivery.find(root)
        if posted is None:
            posted = Posted(int(placement.message["message_id"]), int(placement.channel_id), False, None,
                            original=False)
            self.delivery.remember(root, posted)
        self.delivery.edit(posted, rendered)
        await self.delivery.flush([posted])
