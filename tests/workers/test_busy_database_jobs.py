"""Demos ride out a busy database: a real lock held by another connection while a demo runs on the real local
pool costs progress writes, never the job; its result lands once the lock goes, and no idle worker dies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.db.engine import Database
from tests.db_locks import released_after
from tests.helpers import wait_until
from tests.jobs_support import insert_job, sample_demos_registered
from tests.workers.sample_demos import MODULE
from workers.jobs import RUNNING, SUCCEEDED
from workers.local import LocalBackend
from workers.store import JobStore


@contextmanager
def _pool(url: str, lock_timeout_s: float) -> Iterator[LocalBackend]:
    database = Database.from_url(url, lock_timeout_s=lock_timeout_s)
    with sample_demos_registered():
        backend = LocalBackend(database, workers=2, demo_modules=[MODULE], idle_poll_s=0.2,
                               lock_timeout_s=lock_timeout_s)
        backend.start()
        try:
            assert backend.wait_ready(120), "the worker processes did not warm up"
            yield backend
        finally:
            backend.stop()
            database.dispose()


@pytest.fixture
def pool(migrated) -> Iterator[LocalBackend]:  # type: ignore[no-untyped-def]
    """Two warm worker processes whose statements give up on a lock after 0.3 s."""
    with _pool(migrated.database_url, 0.3) as backend:
        yield backend


def _pids(pool: LocalBackend) -> set[int | None]:
    return {pid for _, pid, _ in pool.processes}


def test_a_demo_and_idle_workers_outlive_a_lock(pool: LocalBackend, migrated) -> None:  # type: ignore[no-untyped-def]
    before = _pids(pool)
    spec = insert_job(pool.store, "test-sleep", {"seconds": 2.0})
    pool.submit(spec)
    wait_until(lambda: (job := pool.store.get(spec.job_id)) and job.status == RUNNING and job.progress > 0,
               timeout=30, what="the demo to report progress")
    # Held past the end of the demo: its last progress writes and its result write meet the lock, and the idle
    # worker polls for jobs into it.
    with released_after(4, migrated.database_url, ("jobs",)):
        wait_until(lambda: all(job is None for _, _, job in pool.processes), timeout=30,
                   what="the demo to finish running while the lock is held")
    job = wait_until(lambda: (j := pool.store.get(spec.job_id)) and j.terminal and j, timeout=60,
                     what="the job's result")
    assert job.status == SUCCEEDED, job.error
    assert job.result is not None and job.result.text == "slept 2 s"
    assert _pids(pool) == before, "a worker process died on the lock"
    again = insert_job(pool.store, "test-sleep", {"seconds": 0.2})
    pool.submit(again)
    wait_until(lambda: (j := pool.store.get(again.job_id)) and j.status == SUCCEEDED, timeout=30,
               what="a job after the lock")


def test_a_lock_longer_than_the_time_limit_costs_progress_not_the_job(migrated) -> None:  # type: ignore[no-untyped-def]
    """With the default 5 s lock wait, a demo (8 s limit, 2 s of work) meets an 8 s lock: progress writes give up
    at once rather than eating its time, and its result waits for the lock instead of the process being killed
    at the limit."""
    with _pool(migrated.database_url, 5.0) as pool:
        spec = insert_job(pool.store, "test-eight-seconds", {"seconds": 2.0})
        pool.submit(spec)
        wait_until(lambda: (job := pool.store.get(spec.job_id)) and job.progress > 0, timeout=30,
                   what="the demo to report progress")
        with released_after(8, migrated.database_url, ("jobs",)) as lock:
            wait_until(lock.released.is_set, timeout=30, what="the lock to be held its full 8 s")
        job = wait_until(lambda: (j := pool.store.get(spec.job_id)) and j.terminal and j, timeout=60,
                         what="the job's result")
        assert job.status == SUCCEEDED, job.error


def _lock_wait_ms(database: Database) -> int:
    """How long this engine's statements wait for a lock, as the database itself says."""
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            return int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
        shown = str(connection.exec_driver_sql("SHOW lock_timeout").scalar_one())
    return int(float(shown.removesuffix("ms"))) if shown.endswith("ms") else int(float(shown.rstrip("s")) * 1000)


def test_a_celery_worker_waits_for_locks_as_configured_and_its_job_outlives_one(migrated) -> None:  # type: ignore[no-untyped-def]
    """The Celery task (run in this process, as a worker process runs it) waits for a lock no longer than
    TORCHTUTOR_DATABASE_LOCK_TIMEOUT_S, and a job whose claim meets a lock is run once the lock goes."""
    from tests.jobs_support import claimed_redis_url
    from workers.celery_app import TASK_NAME, _context, app_from_settings

    database = Database.from_url(migrated.database_url)
    with claimed_redis_url() as queue_url, sample_demos_registered():
        settings = migrated.model_copy(update={"database_lock_timeout_s": 0.3, "queue_url": queue_url,
                                               "demo_modules": MODULE})
        app = app_from_settings(settings)
        context = _context(app)
        assert _lock_wait_ms(context.database) == 300
        assert _lock_wait_ms(context.store.progress_database) == 200  # progress gives up sooner, as in the pool
        spec = insert_job(context.store, "test-sleep", {"seconds": 0.5})
        with released_after(3, migrated.database_url, ("jobs",)):
            outcome = app.tasks[TASK_NAME].apply(args=[spec.job_id]).get()
        assert outcome == SUCCEEDED
        job = JobStore(database).get(spec.job_id)
        assert job is not None and job.status == SUCCEEDED and job.result is not None
        assert job.result.text == "slept 0.5 s"
        context.database.dispose()
        context.store.progress_database.dispose()
    database.dispose()
