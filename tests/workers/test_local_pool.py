"""The embedded backend: a real pool of spawned worker processes, killed, timed out and cancelled on purpose."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from tests.helpers import wait_until
from tests.jobs_support import collect, insert_job, migrated_database, sample_demos_registered
from tests.workers.sample_demos import MODULE
from workers.events import watch
from workers.jobs import CANCELLED, FAILED, PROGRESS, RUNNING, SUCCEEDED, TIMED_OUT, JobEvent, JobSpec
from workers.local import LocalBackend


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBackend]:
    """Two warm worker processes on a temporary SQLite database, shared by this module's tests."""
    database = migrated_database(f"sqlite:///{tmp_path_factory.mktemp('pool')}/jobs.db")
    with sample_demos_registered():
        backend = LocalBackend(database, workers=2, demo_modules=[MODULE], hard_margin_s=1.0, idle_poll_s=0.5)
        backend.start()
        try:
            assert backend.wait_ready(120), "the worker processes did not warm up"
            yield backend
        finally:
            backend.stop()
            database.dispose()


def run(pool: LocalBackend, demo: str, params: dict | None = None) -> JobSpec:  # type: ignore[type-arg]
    spec = insert_job(pool.store, demo, params)
    pool.submit(spec)
    return spec


def follow(pool: LocalBackend, job_id: str, timeout: float = 60) -> list[JobEvent]:
    return asyncio.run(collect(watch(job_id, pool.store, pool.bus), timeout))


def pid_running(pool: LocalBackend, job_id: str) -> int:
    """The pid of the worker process running the job, once it runs."""
    def found() -> int | None:
        return next((pid for _, pid, running in pool.processes if running == job_id), None)

    return wait_until(found, timeout=30, what=f"a worker to pick up {job_id}")


def wait_replaced(pool: LocalBackend, pid: int) -> None:
    """Until the process `pid` is gone from the pool and its replacement is warm."""
    wait_until(lambda: pid not in [p for _, p, _ in pool.processes], timeout=30, what=f"process {pid} to go")
    assert pool.wait_ready(120), "the dead worker process was not replaced"


def test_a_demo_runs_on_a_warm_worker_process(pool: LocalBackend) -> None:
    spec = run(pool, "backward-pass", {"x": [1.0, 2.0]})
    events = follow(pool, spec.job_id)
    result = events[-1].result
    assert result is not None and result.status == SUCCEEDED and result.metrics["grad"] == [5.0, 14.0]
    job = pool.store.get(spec.job_id)
    assert job is not None and job.worker is not None and job.worker.startswith("local-")
    assert job.worker.rsplit(":", 1)[1] != str(os.getpid())  # ran in a worker process, not here


def test_progress_arrives_live_and_never_goes_down(pool: LocalBackend) -> None:
    spec = run(pool, "test-sleep", {"seconds": 1.0})
    events = follow(pool, spec.job_id)
    live = [event for event in events if event.kind == PROGRESS]
    assert len(live) >= 3, events
    assert [e.progress for e in events] == sorted(e.progress for e in events)
    assert events[-1].result is not None and events[-1].result.images == (b"\x89PNG-fake",)


def test_a_killed_worker_process_fails_its_job_with_the_reason_and_is_replaced(pool: LocalBackend) -> None:
    spec = run(pool, "test-sleep", {"seconds": 20})
    pid = pid_running(pool, spec.job_id)
    wait_until(lambda: pool.store.get(spec.job_id).progress > 0, timeout=30)  # type: ignore[union-attr]
    os.kill(pid, signal.SIGKILL)
    events = follow(pool, spec.job_id, timeout=30)
    result = events[-1].result
    assert result is not None and result.status == FAILED
    assert result.error == "its worker process stopped unexpectedly (killed by SIGKILL)"
    wait_replaced(pool, pid)
    after = run(pool, "backward-pass", {"x": [3.0]})
    assert follow(pool, after.job_id)[-1].status == SUCCEEDED


def test_a_demo_ignoring_its_time_limit_is_killed_and_timed_out(pool: LocalBackend) -> None:
    spec = run(pool, "test-stubborn", {"seconds": 30})  # 1 s limit, never reports, so only a kill stops it
    pid = pid_running(pool, spec.job_id)
    events = follow(pool, spec.job_id, timeout=30)
    result = events[-1].result
    assert result is not None and result.status == TIMED_OUT
    assert result.error == "it ran longer than its 1 s time limit"
    job = pool.store.get(spec.job_id)
    assert job is not None and job.started_at is not None and job.finished_at is not None
    assert (job.finished_at - job.started_at).total_seconds() < 1 + 1.0 + 3  # limit + hard margin + slack
    wait_replaced(pool, pid)


def test_a_demo_that_reports_stops_itself_at_its_time_limit(pool: LocalBackend) -> None:
    spec = run(pool, "test-short-limit", {"seconds": 10})
    pid = pid_running(pool, spec.job_id)
    assert follow(pool, spec.job_id, timeout=30)[-1].status == TIMED_OUT
    assert pid in [p for _, p, _ in pool.processes]  # no kill needed: the process carries on


def test_cancel_stops_running_jobs_and_a_queued_one_never_runs(pool: LocalBackend) -> None:
    sleepers = [run(pool, "test-sleep", {"seconds": 20}) for _ in range(2)]
    pids = sorted(pid_running(pool, sleeper.job_id) for sleeper in sleepers)  # both workers busy now
    queued = insert_job(pool.store, "backward-pass")  # so nobody is free to take this one
    assert pool.store.cancel(queued.job_id)
    pool.submit(queued)
    for sleeper in sleepers:
        wait_until(lambda s=sleeper: pool.store.get(s.job_id).status == RUNNING, timeout=30)  # type: ignore[misc, union-attr]
        assert pool.store.cancel(sleeper.job_id, reason="cancelled by the test")
        pool.cancel(sleeper.job_id)
    wait_until(lambda: all(job is None for _, _, job in pool.processes), timeout=10,
               what="the cancelled jobs to leave their workers")
    assert sorted(p for _, p, _ in pool.processes) == pids  # they stopped at their next report: no kill
    later = run(pool, "backward-pass")
    assert follow(pool, later.job_id)[-1].status == SUCCEEDED
    job = pool.store.get(queued.job_id)
    assert job is not None and job.status == CANCELLED and job.attempts == 0 and job.worker is None
