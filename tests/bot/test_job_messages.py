"""Job messages across restarts: anchors and leases on job rows, hand-back at shutdown, pick-up by another
process, and the result shown exactly once. Two DemoJobs on one database stand for two bot processes; the jobs
run on threads that outlive either (as Celery workers outlive a bot)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.core.conversation import Person, Placement, Reply, Request
from bot.core.demos.job_messages import JobMessages
from bot.core.demos.live import DemoJobs, JobLimits
from bot.core.outbox import Outbox
from bot.db.base import utcnow
from bot.db.engine import Database
from bot.db.job_followers import JobFollowers
from bot.db.job_models import Job
from tests.jobs_support import HoldBackend, ThreadBackend, sample_demos_registered

PLATFORM = "chat"
WHERE = Placement(PLATFORM, "W1", "C1", {"message_id": "m1"})


@pytest.fixture
def database(migrated) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    database = Database.from_url(migrated.database_url)
    with sample_demos_registered():
        yield database
    database.dispose()


class RecordingPoster:
    """A platform that records every edit it is asked to make."""

    def __init__(self) -> None:
        self.edits: list[tuple[Placement, Reply]] = []

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> None:
        raise AssertionError("a picked-up job edits its message; it never posts a new one")

    async def edit(self, placement: Placement, reply: Reply) -> None:
        self.edits.append((placement, reply))


def process(database: Database, backend: object, owner: str, **lease: timedelta) -> DemoJobs:
    """One bot process's demo use cases."""
    return DemoJobs(database, backend, edit_interval=0.05, poll_s=0.1,  # type: ignore[arg-type]
                    followers=JobFollowers(database, owner, **lease))


def demo_request(text: str) -> Request:
    return Request(platform=PLATFORM, user=Person("u1", "Ursula"), channel_id="C1", command="demo", text=text)


async def until(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return result


async def follow_in_chat(demos: DemoJobs, text: str, shown: list[Reply]) -> None:
    """What an adapter does: show each reply, and tell the core where the job's first message went."""
    messages = JobMessages(demos, Outbox())
    async for reply in demos.command(demo_request(text)):
        shown.append(reply)
        if reply.kind == "job" and reply.edits is None:
            await messages.remember(reply, WHERE)


def job_row(database: Database) -> Job:
    with database.session() as session:
        [job] = session.query(Job).all()
        session.expunge(job)
        return job


def test_a_job_handed_back_at_shutdown_is_finished_by_the_next_process_once(database: Database) -> None:
    async def scenario() -> None:
        backend = ThreadBackend(database)
        first, second = process(database, backend, "first"), process(database, backend, "second")
        shown: list[Reply] = []
        chat = asyncio.create_task(follow_in_chat(first, "test-sleep seconds=2", shown))
        await until(lambda: any("step" in reply.text for reply in shown))
        first.hand_back()  # SIGTERM: the first process lets go of its messages at once
        await asyncio.wait_for(chat, 5)
        assert shown[0].kind == "job" and not any(reply.kind == "job_result" for reply in shown)
        assert job_row(database).follower is None and job_row(database).message_address is not None

        outbox, poster = Outbox(), RecordingPoster()
        outbox.register(PLATFORM, poster)
        messages = JobMessages(second, outbox)
        assert await messages.resume() == 1
        await asyncio.wait_for(messages.wait(), 30)
        results = [reply for _, reply in poster.edits if reply.kind == "job_result"]
        assert len(results) == 1 and poster.edits[-1][1] is results[0], "the result arrives once, last"
        assert "slept 2 s" in results[0].text and results[0].images
        assert {reply.edits for _, reply in poster.edits} == {shown[0].id}, "every edit targets the first message"
        assert all(placement == WHERE for placement, _ in poster.edits)
        assert await messages.resume() == 0, "a delivered job is never picked up again"

    asyncio.run(scenario())
    job = job_row(database)
    assert job.status == "succeeded" and job.attempts == 1 and job.delivered_at is not None and job.follower is None


def test_a_finished_job_whose_process_died_gets_its_result_from_the_next(database: Database) -> None:
    async def scenario() -> None:
        backend = ThreadBackend(database)
        dead = process(database, backend, "dead")
        started = dead.start_demo(demo_request(""), "test-sleep", {"seconds": "0.2"}, message_ref="ref1")
        assert dead.followers.anchor("ref1", WHERE.address())  # posted, then killed: no hand-back, lease held
        await until(lambda: job_row(database).status == "succeeded")

        outbox, poster = Outbox(), RecordingPoster()
        outbox.register(PLATFORM, poster)
        later = process(database, backend, "later")
        assert await JobMessages(later, outbox).resume() == 0, "the dead process's lease still holds"
        later.followers.clock = lambda: utcnow() + timedelta(minutes=1)
        messages = JobMessages(later, outbox)
        assert await messages.resume() == 1, "its lease lapsed: the job is an orphan"
        await asyncio.wait_for(messages.wait(), 10)
        assert [reply.kind for _, reply in poster.edits] == ["job_result"]
        assert poster.edits[0][1].edits == "ref1" and job_row(database).id == started.job_id

    asyncio.run(scenario())
    assert job_row(database).delivered_at is not None


def test_a_stalled_follower_stops_once_another_process_has_taken_over(database: Database) -> None:
    async def scenario() -> None:
        stalled = process(database, HoldBackend(), "stalled", lease=timedelta(seconds=0.3))
        shown: list[Reply] = []
        chat = asyncio.create_task(follow_in_chat(stalled, "test-sleep", shown))
        await until(lambda: shown and job_row(database).follower == "stalled")
        takeover = JobFollowers(database, "takeover", clock=lambda: utcnow() + timedelta(hours=1))
        assert [orphan.message_ref for orphan in takeover.claim_orphans({PLATFORM})] == [shown[0].id]
        await asyncio.wait_for(chat, 5)  # its next renewal finds another follower, and it stops
        # The queued message (and its place-in-line edits), never a result: that is the new follower's to show.
        assert {reply.kind for reply in shown} == {"job"} and shown[0].edits is None

    asyncio.run(scenario())
    assert job_row(database).follower == "takeover", "stopping does not hand back what another process holds"


def test_only_anchored_undelivered_jobs_of_connected_platforms_are_orphans(database: Database) -> None:
    demos = process(database, HoldBackend(), "a")
    demos.limits = JobLimits(per_person=3)
    for ref in ("anchored", "never-shown", "delivered"):
        demos.start_demo(demo_request(""), "test-sleep", {}, message_ref=ref)
    assert demos.followers.anchor("anchored", WHERE.address())
    assert demos.followers.anchor("delivered", WHERE.address())
    assert not demos.followers.anchor("unknown", WHERE.address())
    with database.session() as session:
        delivered = session.query(Job).filter_by(message_ref="delivered").one().id
    demos.followers.delivered(delivered)
    later = JobFollowers(database, "b", clock=lambda: utcnow() + timedelta(minutes=5))
    assert later.claim_orphans({"discord"}) == []
    [orphan] = later.claim_orphans({PLATFORM, "discord"})
    assert (orphan.message_ref, orphan.address, orphan.platform) == ("anchored", WHERE.address(), PLATFORM)
    assert later.claim_orphans({PLATFORM}) == [], "claimed: held by its new follower"
    assert not demos.followers.keep(orphan.job_id), "the first process learns it was taken over"
    demos.followers.hand_back(orphan.job_id)  # not its to give
    assert JobFollowers(database, "c").claim_orphans({PLATFORM}) == []
