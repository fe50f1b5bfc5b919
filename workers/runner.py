"""Runs one job in a worker process, whatever the backend: claim the row, run the demo, report, finish.

`run_job(job_id, store, publisher)` is a plain function: Celery tasks and local pool processes call it, and
tests call it directly without a broker.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.db.availability import is_unavailable
from bot.logging import bind
from workers.demos import DemoOutput, ProgressFn, get_demo
from workers.errors import DemoParamError, UnknownDemo
from workers.events import Publisher
from workers.jobs import FAILED, PROGRESS, RESULT, RUNNING, STATE, SUCCEEDED, TIMED_OUT, JobEvent, JobResult, JobSpec
from workers.sandbox.jail import SandboxUnavailable
from workers.sandbox.job import RUN_JOB, run_snippet
from workers.store import JobStore

log = logging.getLogger(__name__)
T = TypeVar("T")

PROGRESS_INTERVAL_S = 0.2  # at most five progress writes per second per job
MAX_ATTEMPTS = 3
# A result the database cannot take yet is retried this long past the job's time limit: the reapers fail a
# silent job only after its limit plus TORCHTUTOR_JOB_REAP_MARGIN_S (30 s by default), so it lands before that.
RESULT_MARGIN_S = 25.0
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 2.0
PROGRESS_PAUSE_S = 1.0  # after a progress write met a busy database
PROGRESS_LOCK_TIMEOUT_S = 0.2  # how long a worker's progress write waits for a lock


class JobAborted(Exception):
    """The job left `running` while its demo ran (cancelled, timed out, reaped): stop, write nothing."""


class JobTimedOut(Exception):
    """The demo ran past its time limit."""


@dataclass(frozen=True)
class RunOutcome:
    """What one delivery of a job did: the status it wrote (None if it wrote none) and whether the worker
    process should be replaced (after CUDA ran out of memory its allocator state is not worth trusting)."""

    job_id: str
    status: str | None
    ran: bool
    recycle: bool = False


class ProgressReporter:
    """The `progress(fraction, stage)` a demo calls: clamps, throttles, persists, publishes, and stops the demo
    when its job was cancelled or ran out of time."""

    def __init__(self, spec: JobSpec, store: JobStore, publisher: Publisher, *,
                 interval: float = PROGRESS_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec, self.store, self.publisher = spec, store, publisher
        self.interval, self.clock = interval, clock
        self.started = clock()
        self.high = spec.progress
        self._pending: tuple[float, str] | None = None
        self._last_sent: float | None = None
        self._quiet_until = -math.inf  # after a failed write, progress waits a little before trying again

    def __call__(self, fraction: float, stage: str) -> None:
        if self.clock() - self.started > self.spec.time_limit_s:
            raise JobTimedOut()
        value = float(fraction) if isinstance(fraction, int | float) and math.isfinite(fraction) else self.high
        self.high = min(1.0, max(self.high, value))
        self._pending = (self.high, str(stage))
        if self._last_sent is None or self.clock() - self._last_sent >= self.interval:
            self.flush()

    def flush(self) -> None:
        """Send the latest unsent progress, if any."""
        if self._pending is None or self.clock() < self._quiet_until:
            return
        fraction, stage = self._pending
        self._pending = None
        self._last_sent = self.clock()
        try:
            running = self.store.report(self.spec.job_id, fraction, stage)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # Progress is advisory: a later report (or the result) says more. The demo goes on.
            log.warning("could not record progress of job %s (%s); going on", self.spec.job_id, type(exc).__name__)
            self._quiet_until = self.clock() + PROGRESS_PAUSE_S
            return
        if not running:
            raise JobAborted()
        self.publisher.publish(JobEvent(self.spec.job_id, PROGRESS, RUNNING, fraction, stage))


def run_job(job_id: str, store: JobStore, publisher: Publisher, *, worker: str, device: str | None = None,
            max_attempts: int = MAX_ATTEMPTS, time_limit_errors: tuple[type[BaseException], ...] = (),
            progress_interval: float = PROGRESS_INTERVAL_S, claim_patience_s: float = RESULT_MARGIN_S) -> RunOutcome:
    """Claim the job (a re-delivery claims it again) and run it; a finished or unknown job is left alone.

    A database that is busy or unreachable is waited for (up to `claim_patience_s`) rather than losing the job.
    """
    device = device or _best_device()
    spec = retrying(lambda: store.claim(job_id, worker=worker, device=device), time.monotonic() + claim_patience_s,
                    what=f"claim job {job_id}")
    if spec is None:
        with bind(job_id=job_id):
            log.info("job %s is finished or unknown; not running it again", job_id)
        return RunOutcome(job_id, None, ran=False)
    return run_claimed(spec, store, publisher, max_attempts=max_attempts, time_limit_errors=time_limit_errors,
                       progress_interval=progress_interval)


def run_claimed(spec: JobSpec, store: JobStore, publisher: Publisher, *, max_attempts: int = MAX_ATTEMPTS,
                time_limit_errors: tuple[type[BaseException], ...] = (),
                progress_interval: float = PROGRESS_INTERVAL_S, result_margin_s: float = RESULT_MARGIN_S,
                on_result: Callable[[], None] | None = None) -> RunOutcome:
    """Run a job this worker has claimed and write its one result (every log line inside carries its job id).

    The result write is retried while the database is busy or unreachable, until the job's time limit plus
    `result_margin_s` from now; `on_result` is told first (the local pool then lets the write outlive the limit).
    """
    with bind(job_id=spec.job_id):
        finisher = _Finisher(store, publisher, spec, time.monotonic() + spec.time_limit_s + result_margin_s,
                             on_result)
        return _run_claimed(spec, store, publisher, finisher, max_attempts=max_attempts,
                            time_limit_errors=time_limit_errors, progress_interval=progress_interval)


def _run_claimed(spec: JobSpec, store: JobStore, publisher: Publisher, finish: _Finisher, *, max_attempts: int,
                 time_limit_errors: tuple[type[BaseException], ...], progress_interval: float) -> RunOutcome:
    if spec.attempts > max_attempts:
        lost = spec.attempts - 1
        return finish(FAILED, error=f"the worker running it stopped unexpectedly {lost} times, so it was not "
                                    "tried again")
    publisher.publish(JobEvent(spec.job_id, STATE, RUNNING, spec.progress, "starting"))
    reporter = ProgressReporter(spec, store, publisher, interval=progress_interval)
    timeouts: tuple[type[BaseException], ...] = (JobTimedOut, *time_limit_errors)
    try:
        output = _entry_point(spec.demo)(dict(spec.params), reporter)
        reporter.flush()
    except JobAborted:
        log.info("job %s ended elsewhere (cancelled or reaped) while it ran", spec.job_id)
        return RunOutcome(spec.job_id, None, ran=True)
    except timeouts:
        return finish(TIMED_OUT, error=f"it ran longer than its {spec.time_limit_s:g} s time limit")
    except (UnknownDemo, DemoParamError) as exc:
        return finish(FAILED, error=str(exc))
    except SandboxUnavailable as exc:  # the snippet never ran
        return finish(FAILED, error=exc.reason)
    except Exception as exc:
        if is_out_of_memory(exc):
            _release_cuda_memory()
            outcome = finish(FAILED, error="the GPU ran out of memory; try smaller parameters")
            return RunOutcome(spec.job_id, outcome.status, ran=True, recycle=True)
        log.exception("demo %s failed (job %s)", spec.demo, spec.job_id)
        message = (str(exc).strip().splitlines() or [""])[0][:300]
        return finish(FAILED, error=f"the demo raised {type(exc).__name__}" + (f": {message}" if message else ""))
    result = JobResult(job_id=spec.job_id, status=SUCCEEDED, device=output.device, text=output.text,
                       code=output.code, metrics=output.metrics, images=tuple(output.images))
    return finish(SUCCEEDED, result=result)


def _entry_point(name: str) -> Callable[[dict[str, Any], ProgressFn], DemoOutput]:
    """What runs a job: a learner's snippet in the sandbox, or the demo of that name."""
    if name == RUN_JOB:
        return run_snippet
    return get_demo(name).run


@dataclass
class _Finisher:
    """Writes a job's one result, retrying while the database is unavailable, until `deadline`."""

    store: JobStore
    publisher: Publisher
    spec: JobSpec
    deadline: float
    on_result: Callable[[], None] | None = None

    def __call__(self, status: str, *, result: JobResult | None = None, error: str | None = None) -> RunOutcome:
        job_id = self.spec.job_id
        if self.on_result is not None:
            self.on_result()
        won = retrying(lambda: self.store.finish(job_id, status, result=result, error=error), self.deadline,
                       what=f"record the result of job {job_id}")
        if not won:
            log.info("job %s already had its result; dropping this delivery's %s", job_id, status)
        # Subscribers read the result back from the row, so even a losing delivery's event tells them the truth.
        self.publisher.publish(JobEvent(job_id, RESULT, status, 1.0 if status == SUCCEEDED else self.spec.progress))
        return RunOutcome(job_id, status if won else None, ran=True)


def retrying(attempt: Callable[[], T], deadline: float, *, what: str) -> T:
    """`attempt()`, tried again with backoff while the database is busy or unreachable, until the `deadline` (a
    `time.monotonic()` value); the last error is raised past it."""
    delay = RETRY_FIRST_S
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not is_unavailable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("could not %s (%s); retrying in %.1f s", what, type(exc).__name__, delay)
        time.sleep(delay)
        delay = min(RETRY_MAX_S, delay * 2)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is CUDA (or another accelerator) running out of memory."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _release_cuda_memory() -> None:
    import torch

    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _best_device() -> str:
    from workers.device import best_device

    return best_device()
