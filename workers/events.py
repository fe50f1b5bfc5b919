"""Job events, one interface with two implementations: in-process (the local pool) and Redis pub/sub (Celery).

Subscribers use `watch()`: the job row first (so a late or restarted subscriber starts from the truth), then live
events, ending with the result read back from the row. Events are a fast path only; `watch()` re-reads the row
whenever the bus is quiet, so a lost event delays an update but never loses the result.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from workers.errors import UnknownJob
from workers.jobs import RESULT, JobEvent, JobSnapshot

if TYPE_CHECKING:
    from workers.store import JobStore

log = logging.getLogger(__name__)

POLL_S = 1.0
FOREIGN_POLL_S = 0.2  # the runner writes progress to the row at most this often (runner.PROGRESS_INTERVAL_S)


class Publisher(Protocol):
    """Where a running job reports: must never raise because a subscriber is slow or gone."""

    def publish(self, event: JobEvent) -> None: ...


class Inbox(Protocol):
    """Live events of one job, for one subscriber."""

    async def next(self, timeout: float) -> JobEvent | None:
        """The next event, or None after `timeout` seconds without one."""
        ...


class EventBus(Publisher, Protocol):
    """Publishes job events and lets subscribers listen to one job."""

    def listen(self, job_id: str) -> AbstractAsyncContextManager[Inbox]: ...


class _QueueInbox:
    """An asyncio queue fed from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[JobEvent] = asyncio.Queue()

    def put(self, event: JobEvent) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the subscriber's loop has closed: it is gone
            pass

    async def next(self, timeout: float) -> JobEvent | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class InProcessBus:
    """Fans events out to subscribers in this process; publish from any thread.

    Jobs that another process runs (a server's local pool, while `torchtutor demo run` follows) send nothing
    here: `watch()` then follows the job row instead, as often as the runner writes it.
    """

    process_local = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inboxes: dict[str, set[_QueueInbox]] = {}

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            inboxes = list(self._inboxes.get(event.job_id, ()))
        for inbox in inboxes:
            inbox.put(event)

    @asynccontextmanager
    async def listen(self, job_id: str) -> AsyncIterator[Inbox]:
        inbox = _QueueInbox(asyncio.get_running_loop())
        with self._lock:
            self._inboxes.setdefault(job_id, set()).add(inbox)
        try:
            yield inbox
        finally:
            with self._lock:
                listeners = self._inboxes.get(job_id, set())
                listeners.discard(inbox)
                if not listeners:
                    self._inboxes.pop(job_id, None)


class _RedisInbox:
    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    async def next(self, timeout: float) -> JobEvent | None:
        message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        try:
            return JobEvent.from_dict(json.loads(message["data"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed job event on %s", message.get("channel"))
            return None


class RedisBus:
    """Job events over Redis pub/sub, one channel per job; works across processes and machines."""

    def __init__(self, url: str, prefix: str = "torchtutor:job:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None
        self._client_pid = 0
        self._lock = threading.Lock()

    def channel(self, job_id: str) -> str:
        return f"{self.prefix}{job_id}"

    def _sync_client(self) -> Any:
        # One client per process: a client inherited across fork would share its sockets with the parent.
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                import redis

                self._client = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)
                self._client_pid = os.getpid()
            return self._client

    def publish(self, event: JobEvent) -> None:
        import redis

        try:
            self._sync_client().publish(self.channel(event.job_id), json.dumps(event.to_dict()))
        except redis.RedisError as exc:  # subscribers fall back to reading the row
            log.warning("could not publish an event of job %s: %s", event.job_id, exc)

    @asynccontextmanager
    async def listen(self, job_id: str) -> AsyncIterator[Inbox]:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=5)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.channel(job_id))
            # Wait for the confirmation, so that nothing published after we read the row can be missed.
            while (await pubsub.get_message(timeout=5.0) or {}).get("type") != "subscribe":
                pass
            yield _RedisInbox(pubsub)
        finally:
            try:
                await pubsub.aclose()
            finally:
                await client.aclose()

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None


async def watch(job_id: str, store: JobStore, bus: EventBus, *, poll_s: float = POLL_S) -> AsyncIterator[JobEvent]:
    """The job's state now, then its live events (progress never going down), ending with the result event."""
    async with bus.listen(job_id) as inbox:
        snapshot = await _read(store, job_id)
        yield snapshot.event()
        if snapshot.terminal:
            return
        last = snapshot.event()
        # A process-local bus hears only jobs this process runs: until one of its events arrives, the job may
        # run elsewhere, so the row is read as often as the runner writes progress to it.
        live = not getattr(bus, "process_local", False)
        while True:
            event = await inbox.next(poll_s if live else min(poll_s, FOREIGN_POLL_S))
            live = live or event is not None
            if event is None or event.kind == RESULT:
                # Quiet, or finished: the row decides (the first terminal state written is the result).
                snapshot = await _read(store, job_id)
                if snapshot.terminal:
                    yield snapshot.event()
                    return
                event = snapshot.event()
            event = replace(event, progress=max(event.progress, last.progress))
            if _news(event, last):
                last = event
                yield event


def _news(event: JobEvent, last: JobEvent) -> bool:
    """Whether `event` changes what a follower shows: status, progress, stage, or place in line."""
    return (event.status, event.progress, event.stage, event.position) != (
        last.status, last.progress, last.stage, last.position)


async def _read(store: JobStore, job_id: str) -> JobSnapshot:
    snapshot = await asyncio.to_thread(store.get, job_id)
    if snapshot is None:
        raise UnknownJob(job_id)
    return snapshot
