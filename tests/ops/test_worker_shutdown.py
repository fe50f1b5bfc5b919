"""The worker pool stops as a shutdown hook within the deadline, and worker log lines carry their job id."""

from __future__ import annotations

import logging
import time

from bot.db.engine import Database
from bot.logging import current_context
from bot.runtime import HAND_BACK_S, build_runtime
from tests.jobs_support import HoldBackend, RecordingPublisher
from tests.ops.test_shutdown import TinyEncoder
from workers.runner import run_job
from workers.store import JobStore


class StoppableBackend(HoldBackend):
    def __init__(self) -> None:
        super().__init__()
        self.stops: list[float | None] = []

    def stop(self, timeout: float | None = None) -> None:  # type: ignore[override]
        self.stops.append(timeout)


async def test_started_workers_stop_in_the_shutdown_hooks_within_the_deadline(migrated) -> None:  # type: ignore[no-untyped-def]
    backend = StoppableBackend()
    runtime = build_runtime(migrated.model_copy(update={"shutdown_timeout": 4.0}), encoder=TinyEncoder(),
                            backend=backend)
    try:
        assert not any(hook.name == "workers" for hook in runtime.shutdown_hooks)  # nothing to stop yet
        runtime.start_workers()
        runtime.start_workers()
        assert [hook.name for hook in runtime.shutdown_hooks].count("workers") == 1
        started = time.monotonic()
        await runtime.shutdown("test")
        assert len(backend.stops) == 1 and backend.stops[0] is not None
        assert 4.0 - HAND_BACK_S - 1.0 < backend.stops[0] <= 4.0 - HAND_BACK_S
        assert time.monotonic() - started < 2.0
        assert not runtime.workers_started
    finally:
        runtime.close()
    assert len(backend.stops) == 1  # close() after the hook does not stop twice


def test_worker_log_lines_carry_the_job_id(migrated) -> None:  # type: ignore[no-untyped-def]
    seen: list[dict[str, str]] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(current_context())

    logger = logging.getLogger("workers.runner")
    handler, level = Recorder(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    database = Database.from_url(migrated.database_url)
    try:
        run_job("0" * 32, JobStore(database), RecordingPublisher(), worker="w", device="cpu")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        database.dispose()
    assert seen and all(context.get("job_id") == "0" * 32 for context in seen)
    assert "job_id" not in current_context()
