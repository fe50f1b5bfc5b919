"""The adapter contract: what a chat platform's adapter does, in two protocols (docs/ARCHITECTURE.md).

An adapter is a thin translator between one platform and the core:

* in: each platform event (a command, a button press, a mention) becomes one `Request`, handed to
  `Tutor.handle`, which yields neutral `Reply`s;
* out: each Reply is rendered in the channel the request came from. A reply whose `edits` is set replaces the
  message showing that earlier reply (a demo's progress, ending with its result); `reply.progress` says how far
  a job has got, for a platform that draws progress itself; an error is a Reply of kind "error" with one line;
* posting: once connected it registers a `Poster` for its platform on the runtime's Outbox, so the core can
  post where nobody asked (study questions, round results) and edit a message found by its `Placement`.

The runtime owns every adapter's life: `Runtime.add_adapter` before the app starts, then the app's lifespan
runs each adapter's `run()` as a task and cancels it at the end.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.core.outbox import ChannelPoster, MessageEditor


@runtime_checkable
class Adapter(Protocol):
    """One platform's face, started and stopped by the runtime."""

    platform: str  # the `Request.platform` it sends, and the Outbox key its Poster is registered under

    async def run(self) -> None:
        """Connect and serve until cancelled; on cancellation stop receiving, unregister the Poster and let
        replies in flight finish. Raise (with a reason an operator can act on) when the platform refuses the
        connection: `torchtutor run` stops with that one line. Returning early leaves the other faces serving."""
        ...


class Poster(ChannelPoster, MessageEditor, Protocol):
    """Posts a reply to a channel of its platform and edits a message it (or another process) posted."""
