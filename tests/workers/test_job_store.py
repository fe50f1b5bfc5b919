"""The job records and the job store: forward-only states, first terminal state wins, safe claims, the reaper."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from bot.db.base import utcnow
from tests.jobs_support import insert_job, migrated_database
from workers.jobs import (
    CANCELLED,
    FAILED,
    PROGRESS,
    QUEUED,
    RESULT,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    JobEvent,
    JobResult,
    JobSpec,
)
from workers.store import JobStore


@pytest.fixture
def store(migrated) -> JobStore:  # type: ignore[no-untyped-def]
    return JobStore(migrated_database(migrated.database_url))


def test_records_survive_a_round_trip_through_dicts() -> None:
    spec = JobSpec("j1", "backward-pass", {"x": [1.0]}, 10.0, "cpu", attempts=2, progress=0.5)
    result = JobResult("j1", SUCCEEDED, "cpu", "text", "code", {"a": 1}, (b"\x89PNG1", b"\x89PNG2"), None, "w", 1.5)
    event = JobEvent("j1", RESULT, SUCCEEDED, 1.0, "done", result)
    assert JobSpec.from_dict(spec.to_dict()) == spec
    assert JobResult.from_dict(result.to_dict()) == result
    assert JobEvent.from_dict(event.to_dict()) == event
    assert JobEvent.from_dict(JobEvent("j1", PROGRESS, RUNNING, 0.3, "x").to_dict()).result is None


def test_states_only_move_forward_and_the_first_terminal_state_wins(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass", {"x": [1.0]})
    assert store.get(spec.job_id).status == QUEUED  # type: ignore[union-attr]
    claimed = store.claim(spec.job_id, worker="w1", device="cpu")
    assert claimed is not None and claimed.attempts == 1 and claimed.params == {"x": [1.0]}
    result = JobResult(spec.job_id, SUCCEEDED, "cpu", "first", "code", {"n": 1}, (b"png",))
    assert store.finish(spec.job_id, SUCCEEDED, result=result)
    # A second delivery's result, a late timeout, a cancel: all lose, nothing changes.
    assert not store.finish(spec.job_id, SUCCEEDED, result=JobResult(spec.job_id, SUCCEEDED, text="second",
                                                                      images=(b"other",)))
    assert not store.finish(spec.job_id, TIMED_OUT, error="late")
    assert not store.cancel(spec.job_id)
    assert store.claim(spec.job_id, worker="w2", device="cpu") is None
    job = store.get(spec.job_id)
    assert job is not None and job.status == SUCCEEDED and job.progress == 1.0 and job.worker == "w1"
    assert job.result is not None and job.result.text == "first" and job.result.images == (b"png",)
    assert store.images(spec.job_id) == [b"png"]
    with pytest.raises(ValueError):
        store.finish(spec.job_id, RUNNING)


def test_progress_never_goes_down_and_is_refused_once_the_job_stopped(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass")
    assert not store.report(spec.job_id, 0.5, "not running yet")
    store.claim(spec.job_id, worker="w", device="cpu")
    assert store.report(spec.job_id, 0.6, "later")
    assert store.report(spec.job_id, 0.2, "a re-run starting over")
    job = store.get(spec.job_id)
    assert job is not None and job.progress == 0.6 and job.stage == "a re-run starting over"
    assert store.cancel(spec.job_id, reason="cancelled by bob")
    assert not store.report(spec.job_id, 0.9, "too late")
    job = store.get(spec.job_id)
    assert job is not None and job.status == CANCELLED and job.error == "cancelled by bob" and job.result is not None


def test_a_redelivered_job_is_claimed_again_and_counts_attempts(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass")
    store.claim(spec.job_id, worker="w1", device="cpu")
    store.report(spec.job_id, 0.4, "half")
    again = store.claim(spec.job_id, worker="w2", device="cpu")
    assert again is not None and again.attempts == 2 and again.progress == 0.4
    assert store.get(spec.job_id).worker == "w2"  # type: ignore[union-attr]
    assert store.claim("no-such-job", worker="w", device="cpu") is None


def test_claim_next_takes_the_oldest_queued_job_of_its_backend_and_queues(store: JobStore) -> None:
    first = insert_job(store, "backward-pass")
    insert_job(store, "backward-pass", backend="celery")
    gpu = insert_job(store, "gpu-speedup")
    second = insert_job(store, "numpy-interop")
    assert store.claim_next(backend="local", worker="w", device="cpu", queues=["cpu"]).job_id == first.job_id  # type: ignore[union-attr]
    assert store.claim_next(backend="local", worker="w", device="cpu", queues=["cpu"]).job_id == second.job_id  # type: ignore[union-attr]
    assert store.claim_next(backend="local", worker="w", device="cpu", queues=["cpu"]) is None
    assert store.claim_next(backend="local", worker="w", device="cpu").job_id == gpu.job_id  # type: ignore[union-attr]
    assert store.claim_next(backend="local", worker="w", device="cpu") is None


def test_the_reaper_fails_jobs_whose_worker_vanished_and_jobs_nobody_took(store: JobStore) -> None:
    running = insert_job(store, "backward-pass")  # time limit 10 s
    store.claim(running.job_id, worker="gone", device="cpu")
    waiting = insert_job(store, "backward-pass")
    fresh = insert_job(store, "backward-pass")
    store.claim(fresh.job_id, worker="alive", device="cpu")
    now = utcnow()
    assert store.reap(margin_s=5, queue_timeout_s=600, now=now) == []
    # 16 s later the running job is past 10 s + 5 s; the queued ones are not yet 600 s old.
    later = now + timedelta(seconds=16)
    store.claim(fresh.job_id, worker="alive-again", device="cpu")  # re-delivered meanwhile: its clock restarts
    with store.database.transaction() as session:
        from sqlalchemy import update

        from bot.db.job_models import Job

        session.execute(update(Job).where(Job.id == fresh.job_id).values(started_at=later - timedelta(seconds=1)))
    assert store.reap(margin_s=5, queue_timeout_s=600, now=later) == [running.job_id]
    job = store.get(running.job_id)
    assert job is not None and job.status == FAILED and "stopped answering" in (job.error or "")
    assert store.reap(margin_s=5, queue_timeout_s=10, now=later) == [waiting.job_id]
    assert "no worker picked it up" in (store.get(waiting.job_id).error or "")  # type: ignore[union-attr]
    assert store.get(fresh.job_id).status == RUNNING  # type: ignore[union-attr]


def test_fail_running_on_a_dead_worker(store: JobStore) -> None:
    mine, other = insert_job(store, "backward-pass"), insert_job(store, "backward-pass")
    store.claim(mine.job_id, worker="dead", device="cpu")
    store.claim(other.job_id, worker="alive", device="cpu")
    assert store.fail_running_on("dead", "its worker died") == [mine.job_id]
    assert store.get(other.job_id).status == RUNNING  # type: ignore[union-attr]


def _claim_race(store: JobStore, jobs: int, claimers: int) -> None:
    ids = {insert_job(store, "backward-pass").job_id for _ in range(jobs)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (spec := store.claim_next(backend="local", worker=name, device="cpu")) is not None:
            with lock:
                claimed.append(spec.job_id)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == sorted(ids)  # every job claimed exactly once


def test_concurrent_claims_never_share_a_job_sqlite(store: JobStore) -> None:
    _claim_race(store, jobs=20, claimers=4)


@pytest.mark.postgres
def test_concurrent_claims_never_share_a_job_postgres(postgres_url: str) -> None:
    store = JobStore(migrated_database(postgres_url))
    try:
        _claim_race(store, jobs=30, claimers=4)
    finally:
        store.database.dispose()
