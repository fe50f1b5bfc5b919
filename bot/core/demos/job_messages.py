"""Demo jobs' chat messages across restarts: remember where each was posted, pick up the ones nobody follows.

An adapter that posts a job's message tells the Tutor where (`tutor.shown`), and `remember` anchors the job to
that placement with this process as its follower. A process that stops (SIGTERM) hands its jobs back; one that
is killed lets its lease lapse. Every few seconds `JobMessagesLoop` claims such orphans on the platforms this
process is connected to and follows each through the Outbox, editing the same message until the result, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing

from bot.core.background import cancel_and_wait
from bot.core.conversation import Placement, Reply
from bot.core.demos.live import DemoJobs
from bot.core.errors import BadInput
from bot.core.outbox import Outbox
from bot.db.job_followers import Orphan

log = logging.getLogger(__name__)

SCAN_S = 5.0


class JobMessages:
    """Where jobs' messages are, and following the orphaned ones through the Outbox."""

    def __init__(self, demos: DemoJobs, outbox: Outbox) -> None:
        self.demos = demos
        self.outbox = outbox
        self._following: set[asyncio.Task[None]] = set()

    async def remember(self, reply: Reply, placement: Placement) -> None:
        """A job's first message was posted at `placement` (the Tutor's `shown` hook for kind "job")."""
        await asyncio.to_thread(self.demos.followers.anchor, reply.id, placement.address())

    async def resume(self) -> int:
        """Claim the orphaned jobs of the platforms this process can reach and follow each; how many."""
        orphans = await asyncio.to_thread(self.demos.followers.claim_orphans, self.outbox.platforms)
        for orphan in orphans:
            log.info("picking up the message of job %s (%s on %s)", orphan.job_id, orphan.demo, orphan.platform)
            task = asyncio.create_task(self._follow(orphan), name=f"job-message-{orphan.job_id}")
            self._following.add(task)
            task.add_done_callback(self._following.discard)
        return len(orphans)

    async def wait(self) -> None:
        """Until every message picked up so far has its result (tests, shutdown)."""
        while self._following:
            await asyncio.wait(set(self._following))

    async def _follow(self, orphan: Orphan) -> None:
        placement = Placement.from_address(orphan.platform, orphan.address)
        try:
            started = self.demos.resumed(orphan)
        except BadInput:
            log.warning("job %s runs demo %s, unknown to this process: left for another", orphan.job_id, orphan.demo)
            await asyncio.to_thread(self.demos.followers.hand_back, orphan.job_id)
            return
        try:
            async with aclosing(self.demos.follow(started, resumed=True)) as replies:
                async for reply in replies:
                    if not await self.outbox.edit(placement, reply):
                        break  # closing the follow hands the job back; the next scan tries again
        except Exception:
            log.exception("following job %s's message failed", orphan.job_id)


class JobMessagesLoop:
    """The background task of `serve`/`run`: looks for orphaned job messages every `interval` seconds."""

    def __init__(self, messages: JobMessages, interval: float = SCAN_S, ready: Callable[[], bool] = lambda: True) \
            -> None:
        self.messages = messages
        self.interval = interval
        self.ready = ready
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start scanning in the running event loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="job-messages")

    def pause(self) -> None:
        """Stop claiming (shutdown begins); messages already followed are handed back by `DemoJobs.hand_back`."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def run(self) -> None:
        """Scan until cancelled; a failing scan is logged and retried at the next one."""
        while True:
            if self.ready():
                try:
                    await self.messages.resume()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("looking for orphaned job messages failed")
            await asyncio.sleep(self.interval)
