"""Helpers for the job tests: databases, job rows, the test-only demos, a claimed Redis database, a real worker."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.db.engine import Database
from bot.db.migrate import upgrade
from tests.helpers import REPO, wait_until
from tests.services import require_redis
from tests.workers import sample_demos
from workers import demos as catalogue
from workers.jobs import JobEvent, JobSpec
from workers.store import JobStore

T = TypeVar("T")


def migrated_database(url: str) -> Database:
    """A database at the newest migration."""
    upgrade(url)
    return Database.from_url(url)


def insert_job(store: JobStore, demo: str, params: dict[str, Any] | None = None, *, backend: str = "local",
               user_id: int | None = None) -> JobSpec:
    """A committed, queued job row for a registered demo, as `start_demo` would write it (no limits checked)."""
    spec = catalogue.get_demo(demo)
    with store.database.transaction() as session:
        job_id = store.insert(session=session, demo=spec.name, params=params or {}, queue=spec.queue, backend=backend,
                              time_limit_s=spec.time_limit_s, platform="test", user_id=user_id, channel_id=None)
    return JobSpec(job_id=job_id, demo=spec.name, params=params or {}, time_limit_s=spec.time_limit_s,
                   queue=spec.queue)


@contextmanager
def sample_demos_registered() -> Iterator[None]:
    """The test-only demos in this process's catalogue, removed again afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        for demo in sample_demos.DEMOS:
            patch.setitem(catalogue._DEMOS, demo.name, demo)
        yield


class RecordingPublisher:
    """A publisher that keeps every event."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def publish(self, event: JobEvent) -> None:
        self.events.append(event)


async def collect(source: AsyncIterator[T], timeout: float = 60.0) -> list[T]:
    """Every item of an async iterator, failing after `timeout` seconds."""

    async def drain() -> list[T]:
        return [item async for item in source]

    return await asyncio.wait_for(drain(), timeout)


@contextmanager
def claimed_redis_url() -> Iterator[str]:
    """A Redis database (1-15) nobody else is using, claimed with a key and flushed afterwards."""
    import redis

    base = require_redis()
    token = uuid.uuid4().hex
    for number in random.sample(range(1, 16), 15):
        url = f"{base.rsplit('/', 1)[0]}/{number}"
        client = redis.Redis.from_url(url)
        try:
            if client.dbsize() == 0 and client.set("torchtutor:test-claim", token, nx=True, ex=3600):
                try:
                    yield url
                finally:
                    client.flushdb()
                return
        finally:
            client.close()
    pytest.fail("no free Redis database (1-15) to run Celery tests in")


class CeleryWorker:
    """`torchtutor worker --backend celery` in a subprocess of its own session, against the given services."""

    def __init__(self, *, database_url: str, queue_url: str, log_path: Path, concurrency: int = 2,
                 queues: str = "gpu,cpu") -> None:
        self.database_url, self.queue_url, self.log_path = database_url, queue_url, log_path
        self.concurrency, self.queues = concurrency, queues
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> CeleryWorker:
        env = {**os.environ, "PYTHONPATH": str(REPO), "TORCHTUTOR_DATABASE_URL": self.database_url,
               "TORCHTUTOR_QUEUE_URL": self.queue_url, "TORCHTUTOR_WORKER_BACKEND": "celery",
               "TORCHTUTOR_DEMO_MODULES": sample_demos.MODULE}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli.main", "-v", "worker", "--backend", "celery", "--queues",
                 self.queues, "--concurrency", str(self.concurrency)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_for_ready_processes(self.concurrency, timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_ready_processes(self, count: int, timeout: float = 120.0) -> None:
        """Until `count` pool processes in all have said they are warm (replacements count too)."""
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            return self.log().count(" ready on ") >= count

        wait_until(ready, timeout=timeout, interval=0.1, what=f"{count} warm Celery pool processes")

    def kill_all(self) -> None:
        """SIGKILL the worker and its pool processes (its own process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill_all()


class HoldBackend:
    """A backend that accepts jobs and never runs them (they stay queued): for limits and cancellation."""

    name = "local"

    def __init__(self, fail_submit: bool = False) -> None:
        from workers.events import InProcessBus

        self.bus = InProcessBus()
        self.submitted: list[JobSpec] = []
        self.cancelled: list[str] = []
        self.fail_submit = fail_submit

    def start(self) -> None:
        pass

    def submit(self, spec: JobSpec) -> None:
        if self.fail_submit:
            raise ConnectionError("broker down")
        self.submitted.append(spec)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def stop(self) -> None:
        pass


class ThreadBackend(HoldBackend):
    """Runs each job with `run_job` on a thread of this process: the core's view of a backend, minus processes."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.store = JobStore(database)

    def submit(self, spec: JobSpec) -> None:
        import threading

        from workers.runner import run_job

        super().submit(spec)
        threading.Thread(target=run_job, args=(spec.job_id, self.store, self.bus),
                         kwargs={"worker": "thread", "device": "cpu", "progress_interval": 0.05}, daemon=True).start()
