"""Event streams: the in-process and Redis buses, and `watch()` (row first, live events, the result last)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from tests.jobs_support import claimed_redis_url, collect, insert_job, migrated_database, sample_demos_registered
from workers.errors import UnknownJob
from workers.events import Inbox, InProcessBus, RedisBus, watch
from workers.jobs import PROGRESS, RESULT, RUNNING, STATE, SUCCEEDED, JobEvent, JobResult
from workers.runner import run_job
from workers.store import JobStore


@pytest.fixture
def store(migrated) -> Iterator[JobStore]:  # type: ignore[no-untyped-def]
    database = migrated_database(migrated.database_url)
    yield JobStore(database)
    database.dispose()


class _Silent:
    """Never delivers an event (a bus outage, or a worker in another process without a live bus)."""

    async def next(self, timeout: float) -> JobEvent | None:
        await asyncio.sleep(timeout)
        return None


class SilentBus:
    def publish(self, event: JobEvent) -> None:
        pass

    @asynccontextmanager
    async def listen(self, job_id: str) -> AsyncIterator[Inbox]:
        yield _Silent()


async def test_in_process_bus_delivers_events_published_from_other_threads() -> None:
    bus = InProcessBus()
    async with bus.listen("j1") as inbox:
        threading.Thread(target=bus.publish, args=(JobEvent("j1", PROGRESS, RUNNING, 0.5, "half"),)).start()
        bus.publish(JobEvent("other-job", PROGRESS, RUNNING, 0.9, "not mine"))
        event = await inbox.next(5)
        assert event is not None and event.stage == "half"
        assert await inbox.next(0.05) is None
    assert bus._inboxes == {}  # nothing leaks once the subscriber leaves
    bus.publish(JobEvent("j1", PROGRESS, RUNNING, 0.6, "nobody listens"))  # and publishing still works


async def test_watch_gives_the_row_then_live_events_then_the_result(store: JobStore) -> None:
    bus = InProcessBus()
    spec = insert_job(store, "backward-pass")
    seen: list[JobEvent] = []

    async def subscriber() -> None:
        async for event in watch(spec.job_id, store, bus, poll_s=5):
            seen.append(event)

    task = asyncio.create_task(subscriber())
    await asyncio.sleep(0.2)  # subscribed, holding the queued snapshot
    store.claim(spec.job_id, worker="w", device="cpu")
    bus.publish(JobEvent(spec.job_id, STATE, RUNNING, 0.0, "starting"))
    bus.publish(JobEvent(spec.job_id, PROGRESS, RUNNING, 0.6, "later"))
    bus.publish(JobEvent(spec.job_id, PROGRESS, RUNNING, 0.3, "out of order"))
    store.finish(spec.job_id, SUCCEEDED, result=JobResult(spec.job_id, SUCCEEDED, "cpu", "done", "code", {}))
    bus.publish(JobEvent(spec.job_id, RESULT, SUCCEEDED, 1.0))
    await asyncio.wait_for(task, 10)
    assert [e.kind for e in seen] == [STATE, STATE, PROGRESS, PROGRESS, RESULT]
    assert [e.progress for e in seen] == [0.0, 0.0, 0.6, 0.6, 1.0]  # never going down
    assert seen[-1].result is not None and seen[-1].result.text == "done"


async def test_a_late_subscriber_gets_the_final_state_from_the_row(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass")
    store.claim(spec.job_id, worker="w", device="cpu")
    store.finish(spec.job_id, SUCCEEDED, result=JobResult(spec.job_id, SUCCEEDED, "cpu", "t", "c", {"k": 1}))
    events = await collect(watch(spec.job_id, store, InProcessBus()), timeout=10)  # a restarted bot: a new bus
    assert len(events) == 1 and events[0].kind == RESULT and events[0].result is not None
    assert events[0].result.metrics == {"k": 1}


async def test_watch_reads_the_row_when_events_are_lost(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass")

    def worker_elsewhere() -> None:
        store.claim(spec.job_id, worker="w", device="cpu")
        store.report(spec.job_id, 0.5, "half way")
        store.finish(spec.job_id, SUCCEEDED, result=JobResult(spec.job_id, SUCCEEDED, "cpu", "t", "c", {}))

    threading.Timer(0.3, worker_elsewhere).start()
    events = await collect(watch(spec.job_id, store, SilentBus(), poll_s=0.1), timeout=10)
    assert events[0].status == "queued" and events[-1].kind == RESULT and events[-1].status == SUCCEEDED


async def test_a_job_another_process_runs_shows_its_progress_through_the_row(store: JobStore) -> None:
    """The local backend's bus is per process: a follower elsewhere (`torchtutor demo run` while a server's pool
    runs the job) hears nothing on its own bus, so it must follow the row as often as the runner writes it."""
    with sample_demos_registered():
        spec = insert_job(store, "test-sleep", {"seconds": 2.0})
        elsewhere = InProcessBus()  # the runner's process: its bus reaches none of this follower's inboxes
        runner = threading.Thread(target=run_job, args=(spec.job_id, store, elsewhere),
                                  kwargs={"worker": "pool-of-another-process", "device": "cpu"})
        runner.start()
        events = await collect(watch(spec.job_id, store, InProcessBus(), poll_s=1.0), timeout=30)
        runner.join()
    progress = {e.progress for e in events if e.status == RUNNING and 0 < e.progress < 1}
    assert len(progress) >= 4, f"a 2 s demo reporting every 0.1 s showed only {sorted(progress)}"
    assert events[-1].kind == RESULT and events[-1].status == SUCCEEDED


async def test_a_queued_job_knows_its_place_in_line(store: JobStore) -> None:
    first, second, third = (insert_job(store, "backward-pass") for _ in range(3))
    other_queue = insert_job(store, "gpu-speedup")
    assert [store.get(s.job_id).position for s in (first, second, third, other_queue)] == [1, 2, 3, 1]
    store.claim(first.job_id, worker="w", device="cpu")
    assert [store.get(s.job_id).position for s in (first, second, third)] == [None, 1, 2]
    event = store.get(third.job_id).event()
    assert event.position == 2 and JobEvent.from_dict(event.to_dict()) == event


async def test_watching_an_unknown_job_says_so(store: JobStore) -> None:
    with pytest.raises(UnknownJob):
        await collect(watch("nope", store, InProcessBus()))


@pytest.mark.redis
async def test_redis_bus_carries_events_between_processes_and_threads() -> None:
    with claimed_redis_url() as url:
        publisher, subscriber = RedisBus(url), RedisBus(url)
        async with subscriber.listen("j1") as inbox:
            await asyncio.to_thread(publisher.publish, JobEvent("j2", PROGRESS, RUNNING, 0.1, "not mine"))
            await asyncio.to_thread(publisher.publish, JobEvent("j1", PROGRESS, RUNNING, 0.7, "seventy"))
            event = await inbox.next(5)
        assert event == JobEvent("j1", PROGRESS, RUNNING, 0.7, "seventy")
        publisher.close()


def test_redis_bus_publish_survives_redis_being_down() -> None:
    RedisBus("redis://127.0.0.1:1/0").publish(JobEvent("j1", PROGRESS, RUNNING, 0.1, "lost"))  # logs, no raise
