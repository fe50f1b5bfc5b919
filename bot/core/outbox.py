"""The outbound seam: how the core posts to a channel when no request is waiting for a reply.

Scheduled study questions and the results of a channel round are not answers to anyone's command, so they
go through an Outbox, and so do edits of a message another process posted (a demo job's message picked up
after a restart). Each platform adapter registers one ChannelPoster for its platform when it connects
(the console adapter prints; Discord and Slack send a message); the scheduler only works on channels of
platforms that have a poster, so a process never claims a question it cannot deliver. The whole adapter
contract, of which the poster is the outbound half, is bot/core/adapter.py.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.core.conversation import Placement, Reply

log = logging.getLogger(__name__)

Reach = Collection[str] | Mapping[str, Collection[str] | None]
"""Where a scheduler may work: platform names, or {platform: its channel ids, or None for all} (`Outbox.reach`)."""


class ChannelPoster(Protocol):
    """Sends a reply to one channel of one platform."""

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> None: ...


@runtime_checkable
class MessageEditor(Protocol):
    """A poster that can also edit a message found by its placement (Discord and Slack can; a terminal cannot)."""

    async def edit(self, placement: Placement, reply: Reply) -> None: ...


@dataclass(frozen=True)
class Post:
    """A reply addressed to a channel (platform ids, not database ids)."""

    platform: str
    workspace_id: str
    channel_id: str
    reply: Reply


class Outbox:
    """The registry of channel posters, one per platform."""

    def __init__(self) -> None:
        self._posters: dict[str, ChannelPoster] = {}
        self._channels: dict[str, frozenset[str] | None] = {}

    def register(self, platform: str, poster: ChannelPoster, channels: Collection[str] | None = None) -> None:
        """Make `poster` the way to reach channels of `platform` (replacing any earlier one); `channels`: the only
        channel ids it reaches (a terminal shows its own channel and no other), None for all of them."""
        self._posters[platform] = poster
        self._channels[platform] = frozenset(channels) if channels is not None else None

    def unregister(self, platform: str) -> None:
        """Stop posting to `platform` (its adapter disconnected)."""
        self._posters.pop(platform, None)
        self._channels.pop(platform, None)

    @property
    def platforms(self) -> frozenset[str]:
        """The platforms this process can post to."""
        return frozenset(self._posters)

    @property
    def reach(self) -> dict[str, frozenset[str] | None]:
        """{platform: the channel ids this process can post to there, or None for every channel}: schedulers
        claim only work they can deliver, so a round's results reach the channel that ran it."""
        return dict(self._channels)

    def reaches(self, platform: str, channel_id: str) -> bool:
        """Whether this process can post to that channel."""
        channels = self._channels.get(platform, frozenset())
        return channels is None or channel_id in channels

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> bool:
        """Post one reply; False (and a log line) when no poster here reaches that channel or the post failed."""
        poster = self._posters.get(platform)
        if poster is None or not self.reaches(platform, channel_id):
            log.warning("no poster for %s channel %s here: dropped a %s", platform, channel_id, reply.kind)
            return False
        try:
            await poster.post(platform, workspace_id, channel_id, reply)
        except Exception:
            log.exception("posting a %s to %s channel %s failed", reply.kind, platform, channel_id)
            return False
        return True

    async def edit(self, placement: Placement, reply: Reply) -> bool:
        """Show `reply` in place of the message at `placement`; False (and a log line) when that cannot be done."""
        editor = self._posters.get(placement.platform)
        if not isinstance(editor, MessageEditor):
            log.info("no editor for platform %s: message in channel %s left as it is", placement.platform,
                     placement.channel_id)
            return False
        try:
            await editor.edit(placement, reply)
        except Exception:
            log.exception("editing a %s in %s channel %s failed", reply.kind, placement.platform, placement.channel_id)
            return False
        return True

    async def deliver(self, posts: Iterable[Post]) -> int:
        """Post each in order; how many went out."""
        sent = 0
        for item in posts:
            sent += await self.post(item.platform, item.workspace_id, item.channel_id, item.reply)
        return sent
