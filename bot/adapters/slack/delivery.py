"""Sends one request's replies to Slack: new messages, throttled message updates, and image uploads.

A first reply is posted (`chat.postMessage`, or privately through the `response_url` / `chat.postEphemeral`);
a reply that `edits` an earlier one becomes a `chat.update` of that message. Updates of one message are
coalesced: at most one per interval, always the newest, and the last one is never dropped, so a job that
reports progress ten times a second costs Slack about one call a second. The interval grows with the number
of messages being updated at once in a workspace, to stay inside `chat.update`'s Tier 3 (about 50 a minute).
A `ratelimited` answer (429) is retried after its Retry-After by the client's retry handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters.api_errors import api_error_kind
from bot.adapters.slack.render import escape, render_message
from bot.adapters.slack.translate import PLATFORM, SlackHandle, rename_commands
from bot.core.conversation import Placement, Reply
from bot.core.telemetry import NoTelemetry, Telemetry
from bot.core.tutor import ShownHandler

log = logging.getLogger(__name__)

MIN_EDIT_INTERVAL_S = 1.0
EDITS_PER_MINUTE_PER_WORKSPACE = 50
RATE_LIMIT_RETRIES = 3
# Public replies that cannot be posted as the bot (it is not in that channel) go through the response_url.
_NOT_POSTABLE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
NOT_A_MEMBER = ("I can't post in this channel: I'm not a member of it. Invite me with `/invite @torchtutor`, "
                "then try again.")


def retry_handlers() -> list[Any]:
    """Retry handlers for every Slack client: connection resets, and 429 `ratelimited` after Retry-After."""
    return [AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)]


class EditPacer:
    """How long to wait between two updates of one message, given how many are being updated in a workspace."""

    def __init__(self, min_interval: float = MIN_EDIT_INTERVAL_S,
                 per_minute: int = EDITS_PER_MINUTE_PER_WORKSPACE) -> None:
        self.min_interval = min_interval
        self.per_minute = per_minute
        self._active: Counter[str] = Counter()

    def interval(self, team_id: str) -> float:
        return max(self.min_interval, self._active[team_id] * 60.0 / self.per_minute)

    def enter(self, team_id: str) -> None:
        self._active[team_id] += 1

    def leave(self, team_id: str) -> None:
        self._active[team_id] -= 1
        if self._active[team_id] <= 0:
            del self._active[team_id]


@dataclass
class Posted:
    """Where one reply landed, so later replies can replace it."""

    mode: str  # "message" (has a ts), "response_url" (replace through it) or "ephemeral" (cannot be changed)
    channel: str
    ts: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None
    preface: str | None = None
    uploaded: set[str] = field(default_factory=set)


class MessageWriter:
    """Applies the newest pending version of one message, at most once per interval; `close` flushes the last."""

    def __init__(self, send: Callable[[Reply], Awaitable[None]], interval: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic,
                 on_error: Callable[[SlackApiError], None] | None = None) -> None:
        self._send = send
        self._on_error = on_error
        self._interval = interval
        self._clock = clock
        self._pending: Reply | None = None
        self._last_sent = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def offer(self, reply: Reply) -> None:
        """Make this the next version to show; replaces any version not yet sent."""
        self._pending = reply
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._pending is not None:
            wait = self._last_sent + self._interval() - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            reply, self._pending = self._pending, None
            if reply is None:
                break
            self._last_sent = self._clock()
            try:
                await self._send(reply)
            except SlackApiError as exc:
                if self._on_error is not None:
                    self._on_error(exc)
                log.warning("Slack refused a message update: %s", exc.response.get("error"))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not update a Slack message")

    async def close(self) -> None:
        """Wait until the newest version has been sent."""
        while self._task is not None and not self._task.done():
            await self._task


class Outbox:
    """Delivers the replies to one request, in order, to the place the request came from."""

    def __init__(self, client: AsyncWebClient, handle: SlackHandle, *, pacer: EditPacer, prefix: str = "",
                 clock: Callable[[], float] = time.monotonic, telemetry: Telemetry | None = None,
                 shown: ShownHandler | None = None) -> None:
        self.client = client
        self.handle = handle
        self.shown = shown
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        self.pacer = pacer
        self.prefix = prefix
        self.clock = clock
        self.posted: dict[str, Posted] = {}
        self._refused: set[str] = set()
        self._writers: dict[str, MessageWriter] = {}

    def api_error(self, exc: SlackApiError) -> None:
        """Count a failed call to Slack's API (`torchtutor_platform_api_errors`)."""
        self.telemetry.platform_api_error(platform="slack", kind=api_error_kind(getattr(exc.response, "status_code",
                                                                                        None)))

    async def deliver(self, replies: AsyncIterator[Reply]) -> None:
        """Send every reply of the stream; returns once the last update is on screen."""
        try:
            async for reply in replies:
                await self.send(rename_commands(reply, self.prefix))
        finally:
            for writer in list(self._writers.values()):
                await writer.close()
            for _ in self._writers:
                self.pacer.leave(self.handle.team_id)
            self._writers.clear()

    async def send(self, reply: Reply) -> None:
        """Post a new reply, or queue an update of the one it edits."""
        target_id = reply.edits
        if target_id is not None and target_id in self._refused:
            return  # Slack refused the message this edits; do not retry it on every progress update
        if target_id is not None:
            posted = self.posted.get(target_id) or self._pressed_message(target_id)
            if posted is not None:
                self.posted[target_id] = posted
                self._writer(target_id, posted).offer(reply)
                return
        posted_new = await self.post(reply)
        for key in (reply.id, target_id):  # an edit of something not on screen is shown anew, and stands for it
            if key is None:
                continue
            if posted_new is None:
                self._refused.add(key)
            else:
                self.posted[key] = posted_new
        if posted_new is not None and posted_new.mode == "message" and posted_new.ts and self.shown is not None:
            await self.shown(reply, self.placement(posted_new))

    def placement(self, posted: Posted) -> Placement:
        """Where a posted message is, for a process that edits it later (after a restart)."""
        message = {"ts": posted.ts, "thread_ts": posted.thread_ts, "preface": posted.preface,
                   "enterprise_id": self.handle.enterprise_id}
        return Placement(PLATFORM, self.handle.team_id, posted.channel, {k: v for k, v in message.items() if v})

    def _writer(self, message_id: str, posted: Posted) -> MessageWriter:
        writer = self._writers.get(message_id)
        if writer is None:
            self.pacer.enter(self.handle.team_id)
            writer = MessageWriter(lambda r: self.update(r, posted, message_id),
                                   lambda: self.pacer.interval(self.handle.team_id), self.clock,
                                   on_error=self.api_error)
            self._writers[message_id] = writer
        return writer

    def _pressed_message(self, reply_id: str) -> Posted | None:
        """The message whose button was pressed, when the core edits the reply it showed."""
        handle = self.handle
        if handle.message_reply_id != reply_id:
            return None
        if handle.message_is_ephemeral:
            return Posted("response_url", handle.channel_id, response_url=handle.response_url) \
                if handle.response_url else None
        if handle.message_ts is None:
            return None
        thread = handle.thread_ts if handle.thread_ts != handle.message_ts else None
        return Posted("message", handle.channel_id, ts=handle.message_ts, thread_ts=thread,
                      preface=handle.message_preface)

    async def post(self, reply: Reply) -> Posted | None:
        """Show a new reply; None if Slack refused it (logged)."""
        handle = self.handle
        try:
            if reply.retracts:
                await self._delete_pressed()
            if reply.in_thread_of:
                return await self._post_in_thread(reply, reply.in_thread_of)
            # In a DM with the app every message is private already; a slash command's response_url is still
            # preferred there, since a DM between two people is one the bot cannot post into.
            private = reply.ephemeral or reply.retracts or handle.private
            if private and (handle.response_url or not handle.is_direct):
                return await self._post_private(reply)
            return await self._post_public(reply)
        except SlackApiError as exc:
            self.api_error(exc)
            log.warning("Slack refused a reply in %s: %s", handle.channel_id, exc.response.get("error"))
            return None

    async def _delete_pressed(self) -> None:
        """Delete, for everyone, the message whose button was pressed (a bot may delete only its own)."""
        handle = self.handle
        if handle.message_is_ephemeral and handle.response_url:
            await self._respond(handle.response_url, delete_original=True)
        elif handle.message_ts:
            await self.client.chat_delete(channel=handle.channel_id, ts=handle.message_ts)

    async def _post_private(self, reply: Reply) -> Posted:
        handle = self.handle
        content = render_message(reply)
        if handle.response_url:
            # A private request is answered in the thread of the message asked about; other response_url
            # answers stay where Slack puts them, beside what was typed or pressed.
            await self._respond(handle.response_url, response_type="ephemeral", replace_original=False,
                                thread_ts=handle.open_thread if handle.private else None, **content)
            return Posted("response_url", handle.channel_id, response_url=handle.response_url)
        await self.client.chat_postEphemeral(channel=handle.channel_id, user=handle.user_id,
                                             thread_ts=handle.open_thread, **content)
        return Posted("ephemeral", handle.channel_id)

    async def _post_in_thread(self, reply: Reply, message_ts: str) -> Posted | None:
        """A reply for everyone in the thread on a message, as the bot: only where it is a member, so a refusal
        is told to the person privately rather than posted through the response_url."""
        thread_ts = self.handle.open_thread or message_ts
        try:
            return await self._post_as_bot(replace(reply, ephemeral=False), None, thread_ts)
        except SlackApiError as exc:
            if exc.response.get("error") not in _NOT_POSTABLE:
                raise
            self.api_error(exc)
            return await self._post_private(Reply(NOT_A_MEMBER, ephemeral=True, kind="error"))

    async def _post_public(self, reply: Reply) -> Posted:
        handle = self.handle
        preface = None if handle.is_direct else handle.preface
        try:
            return await self._post_as_bot(reply, preface, handle.thread_ts)
        except SlackApiError as exc:
            if exc.response.get("error") not in _NOT_POSTABLE or not handle.response_url:
                raise
            # Slash commands work in channels the bot has not joined; their response_url can still answer there.
            await self._respond(handle.response_url, response_type="in_channel", replace_original=False,
                                **render_message(reply, preface=preface))
            return Posted("response_url", handle.channel_id, response_url=handle.response_url)

    async def _post_as_bot(self, reply: Reply, preface: str | None, thread_ts: str | None) -> Posted:
        """chat.postMessage of a reply (and its images, into the thread); raises what Slack refused."""
        content = render_message(reply, preface=preface, image_note=_image_note(reply))
        response = await self.client.chat_postMessage(channel=self.handle.channel_id, thread_ts=thread_ts,
                                                      unfurl_links=False, unfurl_media=False, **content)
        posted = Posted("message", str(response.get("channel") or self.handle.channel_id), ts=response.get("ts"),
                        thread_ts=thread_ts, preface=preface)
        await self._upload_images(reply, posted)
        return posted

    async def update(self, reply: Reply, posted: Posted, message_id: str) -> None:
        """Replace a message on screen with this version of it."""
        if posted.mode == "message" and posted.ts:
            content = render_message(reply, message_id=message_id, preface=posted.preface,
                                     image_note=_image_note(reply))
            await self.client.chat_update(channel=posted.channel, ts=posted.ts, **content)
            await self._upload_images(reply, posted)
        elif posted.mode == "response_url" and posted.response_url:
            await self._respond(posted.response_url, replace_original=True,
                                **render_message(reply, message_id=message_id))
        elif posted.mode == "ephemeral":
            # chat.postEphemeral messages cannot be updated: the newest version is shown as a new one.
            await self.client.chat_postEphemeral(channel=posted.channel, user=self.handle.user_id,
                                                 thread_ts=self.handle.open_thread,
                                                 **render_message(reply, message_id=message_id))

    async def _upload_images(self, reply: Reply, posted: Posted) -> None:
        """Each image of the reply, once, into the message's thread."""
        for image in reply.images:
            digest = hashlib.sha256(image.data).hexdigest()
            if digest in posted.uploaded:
                continue
            posted.uploaded.add(digest)
            try:
                await self.client.files_upload_v2(channel=posted.channel, thread_ts=posted.thread_ts or posted.ts,
                                                  file=image.data, filename=image.filename, title=image.filename)
            except SlackApiError as exc:
                self.api_error(exc)
                log.warning("could not upload %s to Slack: %s", image.filename, exc.response.get("error"))

    async def _respond(self, url: str, **body: Any) -> None:
        webhook = AsyncWebhookClient(url, retry_handlers=retry_handlers(), timeout=10)
        response = await webhook.send_dict({k: v for k, v in body.items() if v is not None})
        if response.status_code != 200:
            self.telemetry.platform_api_error(platform="slack", kind=api_error_kind(response.status_code))
            log.warning("Slack's response_url answered %s: %s", response.status_code, response.body)


def _image_note(reply: Reply) -> str | None:
    if not reply.images:
        return None
    names = ", ".join(image.filename for image in reply.images)
    return f":frame_with_picture: {escape(names)} in the thread"
