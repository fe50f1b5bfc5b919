"""A minimal chat platform and its adapter, written from docs/ARCHITECTURE.md ("Adding a platform") alone.

The "platform" is an in-memory chat: people's events go into `MinimalChat.events`, each channel's messages are
kept in `MinimalChat.channels`. The adapter translates, calls the core, renders: nothing else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.core.conversation import Person, Placement, Reply, Request
from bot.core.outbox import Outbox
from bot.core.tutor import Tutor

PLATFORM = "minimal"


@dataclass
class Message:
    """A message as this platform shows it."""

    id: str
    text: str
    buttons: tuple[str, ...] = ()  # action ids
    progress: float | None = None


@dataclass(frozen=True)
class Event:
    """Something a person did: typed a command (`command`, `text`) or pressed a button (`action`)."""

    person: str
    channel: str
    command: str = ""
    text: str = ""
    action: str | None = None


@dataclass
class MinimalChat:
    """The platform itself: an inbox of events and the channels' messages."""

    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    channels: dict[str, list[Message]] = field(default_factory=dict)

    def show(self, channel: str, message: Message) -> None:
        shown = self.channels.setdefault(channel, [])
        for n, old in enumerate(shown):
            if old.id == message.id:
                shown[n] = message
                return
        shown.append(message)


class MinimalPoster:
    """The adapter's Poster: post to a channel, edit a message found by its placement."""

    def __init__(self, chat: MinimalChat) -> None:
        self.chat = chat

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> None:
        self.chat.show(channel_id, render(reply, reply.id))

    async def edit(self, placement: Placement, reply: Reply) -> None:
        self.chat.show(placement.channel_id, render(reply, str(placement.message["id"])))


def render(reply: Reply, message_id: str) -> Message:
    """A reply as this platform's message: title and text, buttons by action id, progress as a number."""
    text = f"{reply.title}\n{reply.text}" if reply.title else reply.text
    return Message(message_id, text, tuple(b.id for b in reply.buttons),
                   reply.progress.fraction if reply.progress is not None else None)


class MinimalAdapter:
    """bot.core.adapter.Adapter for MinimalChat."""

    platform = PLATFORM

    def __init__(self, tutor: Tutor, outbox: Outbox, chat: MinimalChat) -> None:
        self.tutor, self.outbox, self.chat = tutor, outbox, chat
        self._answering: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        self.outbox.register(PLATFORM, MinimalPoster(self.chat))
        try:
            while True:
                event = await self.chat.events.get()
                task = asyncio.create_task(self._answer(event))  # a long demo must not hold the next event
                self._answering.add(task)
                task.add_done_callback(self._answering.discard)
        finally:
            self.outbox.unregister(PLATFORM)
            if self._answering:
                await asyncio.wait(set(self._answering))

    async def _answer(self, event: Event) -> None:
        request = Request(platform=PLATFORM, user=Person(event.person), channel_id=event.channel,
                          command=event.command, text=event.text, action=event.action)
        async for reply in self.tutor.handle(request):
            self.chat.show(event.channel, render(reply, reply.edits or reply.id))
