"""Celery on Redis: a thin task around `run_job`, separate `gpu` and `cpu` queues, late acks, one job at a time.

Only the job id travels through the queue; the worker loads everything else from the job row.

CUDA and fork: workers use the prefork pool, and CUDA is only ever initialised in its children, in
`worker_process_init`, after the fork. The main worker process imports torch (so children start warm) but never
touches CUDA: GPUs are counted through NVML, which does not initialise it. Each child pins itself to one GPU
(CUDA_VISIBLE_DEVICES from its pool index) and creates its CUDA context once. A child is replaced after
`max_tasks_per_child` jobs, and at once after CUDA ran out of memory. `--pool=solo` also works (the worker
process itself runs the jobs and creates the context), but then Celery cannot enforce hard time limits, so only
the runner's own time check and the reaper bound a stuck job.

Delivery: `task_acks_late` + `task_reject_on_worker_lost` re-deliver a job whose worker process died; the job
row counts deliveries and gives up after `max_attempts`; the first terminal state written wins, so a
re-delivered job never posts a second result. A job past its hard time limit is marked `timed_out` by the main
worker process (`JobRequest.on_timeout`), which survives the child it kills.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker.request import Request
from kombu.entity import Exchange, Queue

from bot.db.engine import LOCK_TIMEOUT_S, Database
from workers.events import EventBus, RedisBus
from workers.jobs import FAILED, QUEUES, RESULT, TIMED_OUT, JobEvent, JobSpec
from workers.runner import MAX_ATTEMPTS, PROGRESS_LOCK_TIMEOUT_S, run_job
from workers.store import JobStore

log = logging.getLogger(__name__)

TASK_NAME = "torchtutor.run_job"
HARD_MARGIN_S = 5.0  # past the soft limit (the demo's time limit), Celery kills the child
VISIBILITY_TIMEOUT_S = 600  # an unacked job (its whole worker gone) is re-delivered after this long

_worker_app: Celery | None = None  # the app of this worker process (set in worker_init, inherited by children)


def make_app(*, broker_url: str, database_url: str, demo_modules: Sequence[str] = (), max_attempts: int = MAX_ATTEMPTS,
             max_tasks_per_child: int = 100, threads: int | None = None,
             lock_timeout_s: float = LOCK_TIMEOUT_S) -> Celery:
    """A Celery app for torchtutor jobs: used by `torchtutor worker --backend celery` and to submit jobs.

    `lock_timeout_s` bounds a worker's statements' wait for a lock, as in the local pool (progress writes wait
    at most PROGRESS_LOCK_TIMEOUT_S); claims and results are retried past it (workers.runner.retrying)."""
    app = Celery("torchtutor", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_acks_on_failure_or_timeout=True,
        task_reject_on_worker_lost=True,
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        task_default_queue="cpu",
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=max_tasks_per_child,
        worker_hijack_root_logger=False,
        # Task events feed Flower (compose's `flower` profile): sent, received, started, succeeded, failed.
        worker_send_task_events=True,
        task_send_sent_event=True,
        torchtutor_database_url=database_url,
        torchtutor_lock_timeout_s=lock_timeout_s,
        torchtutor_demo_modules=list(demo_modules),
        torchtutor_max_attempts=max_attempts,
        torchtutor_threads=threads,
        torchtutor_gpus=[],
    )
    app.task(name=TASK_NAME, bind=True, Request=JobRequest, acks_late=True, reject_on_worker_lost=True)(
        _run_job_task)
    return app


def app_from_settings(settings: Any) -> Celery:
    """The app configured from TORCHTUTOR_* settings (`bot.config.Settings`)."""
    return make_app(broker_url=settings.queue_url, database_url=settings.database_url,
                    demo_modules=settings.demo_module_names(), max_attempts=settings.job_max_attempts,
                    max_tasks_per_child=settings.worker_max_tasks_per_child,
                    lock_timeout_s=settings.database_lock_timeout_s)


@functools.cache
def _app_from_environment() -> Celery:
    from bot.config import get_settings

    return app_from_settings(get_settings())


def __getattr__(name: str) -> Any:
    """`celery -A workers.celery_app worker -Q gpu,cpu` finds `app` here, configured from the environment."""
    if name == "app":
        return _app_from_environment()
    raise AttributeError(name)


def submit(app: Celery, spec: JobSpec, *, queue_timeout_s: float | None = None) -> None:
    """Send the job id to its queue with the demo's time limit (soft) and a hard limit a little later."""
    app.send_task(TASK_NAME, args=[spec.job_id], task_id=spec.job_id, queue=spec.queue,
                  soft_time_limit=spec.time_limit_s, time_limit=spec.time_limit_s + HARD_MARGIN_S,
                  expires=queue_timeout_s, argsrepr=shown_args(spec))


def shown_args(spec: JobSpec) -> str:
    """The task's arguments as logs, events and Flower show them: the job id and which demo it runs.

    Not a `shadow` name: the publisher's task-sent event always carries the real name, and when it reaches
    Flower after the worker's task-received (it may), Flower would show that one.
    """
    return f"[{spec.job_id!r}] demo={spec.demo}"


@dataclass
class _Context:
    """What a worker process needs to run jobs; built once per process (never shared across a fork)."""

    pid: int
    database: Database
    store: JobStore
    bus: RedisBus


def _context(app: Celery) -> _Context:
    context: _Context | None = getattr(app, "_torchtutor_context", None)
    if context is None or context.pid != os.getpid():
        if context is not None:  # inherited from the parent: drop its pool without touching the parent's sockets
            context.database.engine.dispose(close=False)
            context.store.progress_database.engine.dispose(close=False)
        url, lock_timeout_s = app.conf.torchtutor_database_url, app.conf.torchtutor_lock_timeout_s
        database = Database.from_url(url, lock_timeout_s=lock_timeout_s)
        progress = Database.from_url(url, lock_timeout_s=min(lock_timeout_s, PROGRESS_LOCK_TIMEOUT_S))
        context = _Context(os.getpid(), database, JobStore(database, progress_database=progress),
                           RedisBus(app.conf.broker_url))
        app._torchtutor_context = context
    return context


def _run_job_task(task: Task, job_id: str) -> str | None:
    """The Celery task: run the job whose id the message carries."""
    context = _context(task.app)
    worker = f"{task.request.hostname}:{os.getpid()}"
    outcome = run_job(job_id, context.store, context.bus, worker=worker,
                      max_attempts=task.app.conf.torchtutor_max_attempts,
                      time_limit_errors=(SoftTimeLimitExceeded,))
    if outcome.recycle:
        # The job's result is written; leaving makes the pool start a fresh process (a re-delivery of this
        # message, if any, finds the job finished and does nothing).
        raise SystemExit("replacing this worker process after CUDA ran out of memory")
    return outcome.status


class JobRequest(Request):  # type: ignore[misc]  # celery ships no annotations
    """Marks a job `timed_out` when Celery kills it at the hard time limit (runs in the main worker process)."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft or not self.args:
            return
        job_id = str(self.args[0])
        context = _context(self.task.app)
        try:
            snapshot = context.store.get(job_id)
            limit = snapshot.time_limit_s if snapshot else timeout - HARD_MARGIN_S
            if context.store.finish(job_id, TIMED_OUT, error=f"it ran longer than its {limit:g} s time limit"):
                context.bus.publish(JobEvent(job_id, RESULT, TIMED_OUT))
        except Exception:
            log.exception("could not mark job %s timed out", job_id)


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    """Main worker process, before any fork: load demos and torch, count GPUs without initialising CUDA."""
    global _worker_app
    app = getattr(sender, "app", None)
    if app is None or TASK_NAME not in app.tasks:
        return
    _worker_app = app
    from workers.demos import load_demo_modules
    from workers.device import cpu_threads, visible_gpus

    load_demo_modules(app.conf.torchtutor_demo_modules)
    app.conf.torchtutor_gpus = visible_gpus()  # imports torch; NVML only, so forking stays safe
    if app.conf.torchtutor_threads is None:
        app.conf.torchtutor_threads = cpu_threads(getattr(sender, "concurrency", 1) or 1)


def _on_worker_process_init(**_: Any) -> None:
    """A process that will run jobs (a prefork child, or a solo worker): pin a GPU, then warm up."""
    app = _worker_app
    if app is None:
        return
    gpus = app.conf.torchtutor_gpus
    if gpus:
        import billiard.process

        index = getattr(billiard.process.current_process(), "index", 0) or 0
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    from workers.device import warm_up

    device = warm_up(app.conf.torchtutor_threads)
    _context(app)
    log.info("worker process %d ready on %s", os.getpid(), device)


signals.worker_init.connect(_on_worker_init, weak=False)
signals.worker_process_init.connect(_on_worker_process_init, weak=False)


class CeleryBackend:
    """Submits jobs to Celery on Redis; events come back over Redis; a reaper fails jobs whose worker vanished."""

    name = "celery"

    def __init__(self, database: Database, *, broker_url: str, bus: EventBus | None = None,
                 reap_margin_s: float = 30.0, queue_timeout_s: float = 600.0, reap_every_s: float = 5.0) -> None:
        self.database = database
        self.store = JobStore(database)
        self.app = make_app(broker_url=broker_url,
                            database_url=database.engine.url.render_as_string(hide_password=False))
        self.bus: EventBus = bus or RedisBus(broker_url)
        self.reap_margin_s, self.queue_timeout_s, self.reap_every_s = reap_margin_s, queue_timeout_s, reap_every_s
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def start(self) -> None:
        if self._reaper is None:
            self._stop.clear()
            self._reaper = threading.Thread(target=self._reap_loop, name="torchtutor-reaper", daemon=True)
            self._reaper.start()

    def submit(self, spec: JobSpec) -> None:
        submit(self.app, spec, queue_timeout_s=self.queue_timeout_s)

    def cancel(self, job_id: str) -> None:
        """Nothing to send: a queued job is skipped when its row says cancelled; a running one stops at its next
        progress report."""

    def stop(self) -> None:
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(5)
            self._reaper = None
        close = getattr(self.bus, "close", None)
        if close is not None:
            close()

    def reap(self) -> list[str]:
        """Fail jobs whose worker vanished; the ids."""
        reaped = self.store.reap(margin_s=HARD_MARGIN_S + self.reap_margin_s, queue_timeout_s=self.queue_timeout_s,
                                 backend=self.name)
        for job_id in reaped:
            self.bus.publish(JobEvent(job_id, RESULT, FAILED))
        return reaped

    def _reap_loop(self) -> None:
        while not self._stop.wait(self.reap_every_s):
            try:
                self.reap()
            except Exception:
                log.exception("reaping orphaned jobs failed")
