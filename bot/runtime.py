"""Wires settings, database, knowledge and use cases into one object each entry point shares.

Seams other parts plug into (register them in `build_runtime` or right after it):

* `runtime.metrics`: the process's Prometheus series (bot.metrics); scrape-time sources for shared state.
* `runtime.add_health_check(name, probe)`: one more dependency `/healthz` must find usable.
* `runtime.add_adapter(adapter)`: a chat platform (bot.core.adapter.Adapter) the web app's lifespan runs with
  the background loops (`start_faces`) and stops after the shutdown hooks (`stop_faces`).
* `runtime.add_shutdown_hook(name, hook)`: called once when the process stops (SIGTERM, SIGINT, lifespan end).
  `runtime.draining` turns true first, so code taking new work can refuse it from then on.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import hashlib
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.adapter import Adapter
from bot.core.admin.entries import KnowledgeAdmin
from bot.core.admin.gaps import GapFinder
from bot.core.answering.answers import QuestionAnswering
from bot.core.answering.autoanswer import AutoAnswers, AutoAnswerSettings
from bot.core.answering.knowledge import DEFAULT_DOCS, KnowledgeService
from bot.core.answering.matching import AskService
from bot.core.answering.threads import ThreadAnswers
from bot.core.demos.job_messages import JobMessages, JobMessagesLoop
from bot.core.demos.live import DemoJobs, JobBackend, JobLimits
from bot.core.demos.snippets import RunSettings, SandboxGate, SnippetRuns
from bot.core.learning.features import QuizFeatures
from bot.core.learning.quizzes import QuizSettings
from bot.core.outbox import Outbox
from bot.core.tutor import Tutor
from bot.db.engine import Database
from bot.db.journal import Journal
from bot.health import HealthCheck, Unhealthy, database_check, queue_check
from bot.metrics import Metrics
from knowledge.cache import CachingEncoder, EmbeddingCache, seed_directory
from knowledge.embedder import get_embedder
from knowledge.index import Encoder

log = logging.getLogger(__name__)

LATE_HOOK_GRACE_S = 1.0
HAND_BACK_S = 1.0  # kept from a stopping job's time to fail it and publish that
ShutdownFunction = Callable[[float], Awaitable[Any] | Any]
"""Called with the deadline (a `time.monotonic()` value) by which everything must be finished or handed back."""


class SchemaNotReady(Exception):
    """The database is unreachable or behind the newest migration."""


@dataclass(frozen=True)
class ShutdownHook:
    """Something to stop when the process stops: `hook(deadline)`, sync (run in a thread) or async."""

    name: str
    hook: ShutdownFunction


@dataclass
class Runtime:
    """Everything a process needs to serve people; `start()` loads the model and the index."""

    settings: Settings
    database: Database
    encoder: Encoder
    knowledge: KnowledgeService
    ask: AskService
    tutor: Tutor
    qa: QuestionAnswering
    demos: DemoJobs
    knowledge_admin: KnowledgeAdmin
    gaps: GapFinder
    metrics: Metrics = field(default_factory=Metrics)
    health_checks: list[HealthCheck] = field(default_factory=list)
    shutdown_hooks: list[ShutdownHook] = field(default_factory=list)
    ready: bool = field(default=False)
    # A long-running server sets this: once started, what was loaded (modules, the index) is frozen out of the
    # garbage collector's sight (`gc.freeze`). Under load a full collection walked all of it while holding the
    # GIL, stopping every request for 55-75 ms; it now walks only what was made since. Not for tests and
    # one-shot commands, whose later garbage among frozen objects would never be collected.
    freeze_after_start: bool = False
    start_error: str | None = None
    draining: bool = False
    _shutdown: asyncio.Task[None] | None = field(default=None, repr=False)
    outbox: Outbox = field(default_factory=Outbox)
    quizzes: QuizFeatures | None = None
    workers_started: bool = field(default=False)
    job_messages: JobMessagesLoop | None = None
    journal: Journal | None = None
    _workers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    adapters: list[Adapter] = field(default_factory=list)
    _faces: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    _face_failed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    face_failure: BaseException | None = None

    def start(self) -> None:
        """Load the model, build the index and start watching for admin edits (slow: call it off the event loop)."""
        load = getattr(self.encoder, "load", None)
        if load is not None:
            load()
        if self.journal is not None:
            self.journal.start()  # records a stopped process kept for the database are written now
        self.knowledge.reload()
        self.knowledge.watch(self.settings.knowledge_poll_seconds)
        if self.freeze_after_start:
            gc.collect()
            gc.freeze()
        self.ready = True

    def model_probe(self) -> None:
        """The `model` health check: the embedder is loaded and the index built."""
        if self.ready:
            return
        if self.start_error:
            raise Unhealthy(f"start-up failed: {self.start_error}")
        raise Unhealthy("loading the model and the knowledge index")

    def add_health_check(self, name: str, probe: Callable[[], Any], timeout: float | None = None) -> None:
        """Make `/healthz` depend on `probe()` returning (it raises, with a reason, when unusable).

        Add only what this process cannot serve without: a failing check takes it out of its load balancer.
        """
        self.health_checks.append(HealthCheck(name, probe) if timeout is None else HealthCheck(name, probe, timeout))

    def add_shutdown_hook(self, name: str, hook: ShutdownFunction) -> None:
        """Run `hook(deadline)` when the process stops; hooks run one at a time, newest first.

        A hook stops taking new work, then finishes or hands back what it holds (e.g. requeues its jobs) before
        the deadline; a hook still running at the deadline is cancelled and logged, and the hooks after it get
        a second each to hand back what they hold. Register what depends on
        something after that something (the worker pool after the chat adapter that posts its results), so it is
        stopped first.
        """
        self.shutdown_hooks.append(ShutdownHook(name, hook))

    def begin_shutdown(self, reason: str = "shutdown") -> asyncio.Task[None]:
        """Stop taking new work and start the shutdown hooks; idempotent. Call it on the event loop."""
        if self._shutdown is None:
            self.draining = True
            if self.job_messages is not None:
                self.job_messages.pause()
            self.demos.hand_back()  # jobs' messages go to whichever process runs next, at once
            deadline = time.monotonic() + self.settings.shutdown_timeout
            log.info("shutting down (%s): taking no new work; %d shutdown hook(s), %.0fs at most", reason,
                     len(self.shutdown_hooks), self.settings.shutdown_timeout)
            self._shutdown = asyncio.get_running_loop().create_task(self._run_shutdown_hooks(deadline))
        return self._shutdown

    async def shutdown(self, reason: str = "shutdown") -> None:
        """Begin the shutdown if nobody has, and wait for its hooks."""
        await self.begin_shutdown(reason)

    async def _run_shutdown_hooks(self, deadline: float) -> None:
        for item in reversed(self.shutdown_hooks):
            # A hook reached after the deadline still runs, briefly: handing work back (requeueing a job) is
            # exactly what it must do when there is no time left to finish.
            remaining = max(deadline - time.monotonic(), LATE_HOOK_GRACE_S)
            try:
                if inspect.iscoroutinefunction(item.hook):
                    await asyncio.wait_for(item.hook(deadline), remaining)
                else:
                    await asyncio.wait_for(_in_daemon_thread(item.hook, deadline), remaining)
            except TimeoutError:
                log.error("shutdown hook %s did not finish within the shutdown timeout", item.name)
            except Exception:
                log.exception("shutdown hook %s failed", item.name)
        log.info("shutdown hooks done")

    def add_adapter(self, adapter: Adapter) -> None:
        """Run `adapter` (a chat platform) with this runtime: started by `start_faces`, stopped by `stop_faces`."""
        self.adapters.append(adapter)

    async def start_faces(self) -> None:
        """Run every adapter as a task of its own, then the background loops that post through them (the study
        scheduler, the demo messages another process left). Call it on the event loop, once."""
        for adapter in self.adapters:
            face = asyncio.create_task(adapter.run(), name=adapter.platform)
            face.add_done_callback(self._face_ended)
            self._faces.append(face)
        if self.quizzes is not None:
            self.quizzes.loop.start()
        if self.job_messages is not None:
            self.job_messages.start()

    async def stop_faces(self) -> None:
        """Stop the background loops, then cancel every adapter and wait for it to close (idempotent)."""
        if self.job_messages is not None:
            await self.job_messages.stop()
        if self.quizzes is not None:
            await self.quizzes.loop.stop()
        faces, self._faces = self._faces, []
        for face in faces:
            face.cancel()
        if faces:
            await asyncio.wait(faces)

    async def first_face_failure(self) -> BaseException:
        """Wait until an adapter stops with an error; that error (the platform refused the connection)."""
        await self._face_failed.wait()
        assert self.face_failure is not None
        return self.face_failure

    def _face_ended(self, face: asyncio.Task[None]) -> None:
        if face.cancelled():
            return
        error = face.exception()
        if error is None:
            log.info("the %s adapter stopped", face.get_name())
            return
        log.error("the %s adapter stopped: %s", face.get_name(), error)
        if self.face_failure is None:
            self.face_failure = error
            self._face_failed.set()

    def require_schema(self) -> None:
        """Raise SchemaNotReady unless the database is at the newest migration."""
        require_schema(self.database)

    def start_workers(self) -> None:
        """Start the job backend: the embedded local pool, or the Celery client and its reaper.

        The first start registers `stop_workers` as a shutdown hook: registered after the adapters, it runs
        before them, so a job finishing in the drain still has an adapter to post its result.
        """
        with self._workers_lock:
            if not self.workers_started:
                self.demos.backend.start()
                self.workers_started = True
                if not any(hook.name == "workers" for hook in self.shutdown_hooks):
                    self.add_shutdown_hook("workers", self.stop_workers)

    def stop_workers(self, deadline: float | None = None) -> None:
        """Stop the job backend. The local pool takes no new job; a running one may finish until `deadline`
        (a `time.monotonic()` value; default a few seconds) less a second, then is failed with the reason.
        Celery workers are separate processes: only this process's client and reaper stop."""
        with self._workers_lock:
            if self.workers_started:
                self.workers_started = False
                backend = self.demos.backend
                if deadline is not None and "timeout" in inspect.signature(backend.stop).parameters:
                    backend.stop(timeout=max(0.0, deadline - time.monotonic() - HAND_BACK_S))  # type: ignore[call-arg]
                else:
                    backend.stop()

    def close(self) -> None:
        """Stop workers and background threads, and release connections (idempotent)."""
        self.stop_workers()
        self.knowledge.close()
        self.ask.close()
        self.qa.close()
        if self.journal is not None:
            self.journal.close()  # one last try; what is left stays on disk for the next process
        for check in self.health_checks:
            close = getattr(check.probe, "close", None)
            if callable(close):
                close()
        self.database.dispose()


def require_schema(database: Database) -> None:
    """Raise SchemaNotReady unless the database is at the newest migration."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db.migrate import is_up_to_date

    try:
        ready = is_up_to_date(database.engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise SchemaNotReady(f"cannot open the database: {reason}") from None
    if not ready:
        raise SchemaNotReady("the database is not migrated yet: run `torchtutor migrate` first")


async def _in_daemon_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking function in a daemon thread: unlike the default executor's threads, one that outlives its
    timeout does not hold the process's exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (context.run(function, *args), None)
        except BaseException as exc:
            outcome = (None, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop has closed: nobody is waiting any more
            pass

    threading.Thread(target=target, name="torchtutor-shutdown-hook", daemon=True).start()
    return await future


def knowledge_paths(settings: Settings, override: Sequence[Path] | None = None) -> list[Path]:
    """The knowledge set: the given paths, or the bundled docs plus TORCHTUTOR_KNOWLEDGE_PATHS."""
    if override:
        return list(override)
    return [DEFAULT_DOCS, *settings.extra_knowledge_paths()]


def make_backend(settings: Settings, database: Database, journal: Journal | None = None) -> JobBackend:
    """The configured job backend, not started: Celery on Redis, or the embedded local pool."""
    if settings.worker_backend == "celery":
        from workers.celery_app import CeleryBackend

        return CeleryBackend(database, broker_url=settings.queue_url, reap_margin_s=settings.job_reap_margin_s,
                             queue_timeout_s=settings.job_queue_timeout_s)
    from workers.local import LocalBackend

    # One process per GPU unless TORCHTUTOR_LOCAL_WORKERS says otherwise; without GPUs, LOCAL_WORKERS processes.
    workers = settings.local_workers if "local_workers" in settings.model_fields_set else None
    return LocalBackend(database, workers=workers, demo_modules=settings.demo_module_names(),
                        max_attempts=settings.job_max_attempts, reap_margin_s=settings.job_reap_margin_s,
                        queue_timeout_s=settings.job_queue_timeout_s,
                        lock_timeout_s=settings.database_lock_timeout_s, journal=journal)


RECENT_WORKER_WINDOW_S = 600.0


def install_job_metrics(metrics: Metrics, backend: JobBackend, database: Database) -> None:
    """Feed the scrape-time job series from the job rows (and the backend's own worker count when it has one)."""
    from workers.store import JobStore

    store = JobStore(database)
    metrics.set_jobs_source(store.counts_by_demo_status)
    metrics.set_queue_depth_source(store.waiting_by_queue)
    worker_counts = getattr(backend, "worker_counts", None)
    metrics.set_workers_source(worker_counts if callable(worker_counts)
                               else lambda: store.recent_workers_by_queue(RECENT_WORKER_WINDOW_S))


def build_runtime(settings: Settings, *, paths: Sequence[Path] | None = None, encoder: Encoder | None = None,
                  database: Database | None = None, use_database_entries: bool = True,
                  backend: JobBackend | None = None, batch_encodes: bool = True) -> Runtime:
    """A runtime for these settings; nothing slow happens until `start()` (and `start_workers()`).

    With `batch_encodes`, questions asked concurrently (HTTP, chat) are encoded together by a micro-batcher;
    one-shot commands that already batch (`ask --from-file`, `eval`) turn it off.
    """
    from workers.demos import load_demo_modules

    load_demo_modules(settings.demo_module_names())
    database = database or Database.from_url(
        settings.database_url, pool_size=settings.database_pool_size, max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout, pool_recycle=settings.database_pool_recycle,
        lock_timeout_s=settings.database_lock_timeout_s)
    encoder = encoder or get_embedder(settings.encoder_backend, settings.cache_dir, settings.encoder_threads)
    cache = EmbeddingCache(settings.cache_dir, getattr(encoder, "name", "encoder"),
                           seed_dir=seed_directory() if settings.embedding_seed else None)
    knowledge = KnowledgeService(knowledge_paths(settings, paths), encoder, cache,
                                 database if use_database_entries else None)
    ask = AskService(knowledge, encoder, threshold=settings.answer_threshold,
                     related_threshold=settings.related_threshold, max_chars=settings.max_question_chars,
                     batching=batch_encodes, max_batch=settings.encode_batch_size,
                     max_wait=settings.encode_batch_wait_ms / 1000)
    admin = KnowledgeAdmin(database, documents=lambda: knowledge.document_entries, on_change=knowledge.refresh)
    question_cache = EmbeddingCache(settings.cache_dir, f"{getattr(encoder, 'name', 'encoder')}-questions")
    gaps = GapFinder(database, ask, CachingEncoder(encoder, question_cache))
    tutor = Tutor()
    metrics = Metrics()
    journal = make_journal(settings, database, metrics)
    qa = QuestionAnswering(ask, database, telemetry=metrics, journal=journal)
    install_threads(tutor, qa, database, settings)
    demos = DemoJobs(database, backend or make_backend(settings, database, journal),
                     limits=JobLimits(per_person=settings.jobs_per_person, queue=settings.job_queue_limit,
                                      anonymous_share=settings.playground_queue_share))
    tutor.command("demo", demos.command)
    tutor.action("demo", demos.run_action)
    tutor.action("job", demos.job_action)
    runtime = Runtime(settings, database, encoder, knowledge, ask, tutor, qa, demos, admin, gaps, metrics=metrics,
                      journal=journal)
    install_job_messages(runtime)
    install_job_metrics(metrics, demos.backend, database)
    runtime.add_health_check("model", runtime.model_probe)
    runtime.health_checks.append(database_check(database))
    if settings.worker_backend == "celery":
        runtime.health_checks.append(queue_check(settings.queue_url))
    install_quizzes(runtime)
    install_runs(runtime)
    return runtime


def install_threads(tutor: Tutor, qa: QuestionAnswering, database: Database, settings: Settings) -> None:
    """Questions wherever people talk: `/ask`, mentions answered in threads and their follow-ups, "Ask torchtutor"
    on a message, and auto-answer channels (with the asker's 👎 removing an auto-answer)."""
    threads = ThreadAnswers(qa, database)
    auto = AutoAnswers(qa, database, AutoAnswerSettings(margin=settings.autoanswer_margin,
                                                        per_minute=settings.autoanswer_per_minute))
    tutor.command("ask", threads.ask)
    tutor.command("thread_reply", threads.thread_reply)
    tutor.command("ask_message", threads.ask_message)
    tutor.action("ask", threads.action)
    tutor.command("autoanswer", auto.command)
    tutor.command("autoask", auto.autoask)
    tutor.action("feedback", auto.feedback)


def install_runs(runtime: Runtime) -> SnippetRuns:
    """`/run`: always answered (with the reason when it is off); the sandbox is self-tested here when the jobs
    run on this machine (the local pool), else by each worker before its first run."""
    settings = runtime.settings
    check = None
    if settings.worker_backend == "local":
        from workers.sandbox import Jail, Limits

        check = Jail(Limits(wall_s=settings.run_time_limit_s)).check
    runs = SnippetRuns(runtime.database, runtime.demos,
                       RunSettings(enabled=settings.run_enabled, time_limit_s=settings.run_time_limit_s,
                                   queue=settings.run_queue), sandbox=SandboxGate(check))
    runtime.tutor.command("run", runs.command)
    return runs


def make_journal(settings: Settings, database: Database, metrics: Metrics | None = None) -> Journal:
    """This process's buffer of records kept while the database is unavailable: a folder under the cache dir
    per database (so a journal is only ever replayed into the database it was meant for)."""
    key = hashlib.sha256(database.engine.url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    journal = Journal(settings.cache_dir / "journal" / key, settings.journal_settings(),
                      on_lost=metrics.record_lost if metrics is not None else None)
    if metrics is not None:
        metrics.watch_journal(lambda: journal.pending)
    return journal


def install_job_messages(runtime: Runtime) -> JobMessagesLoop:
    """Remember where jobs' messages are posted, and pick up those another process stopped following."""
    messages = JobMessages(runtime.demos, runtime.outbox)
    runtime.tutor.on_shown("job", messages.remember)
    runtime.job_messages = JobMessagesLoop(messages, ready=lambda: runtime.ready)
    return runtime.job_messages


def install_quizzes(runtime: Runtime, **overrides: Any) -> QuizFeatures:
    """Build the quiz features on this runtime's database, knowledge and outbox and register them
    (tests pass a clock, an FSRS scheduler or a random generator as overrides)."""
    settings = runtime.settings
    options: dict[str, Any] = {
        "settings": QuizSettings(questions=settings.quiz_questions, round_questions=settings.quiz_round_questions,
                                 round_window_s=settings.quiz_round_window_s),
        "tick_s": settings.study_tick_s,
        "telemetry": runtime.metrics,
        "journal": runtime.journal,
    }
    options.update(overrides)
    features = QuizFeatures.build(database=runtime.database, knowledge=runtime.knowledge, encoder=runtime.encoder,
                                  outbox=runtime.outbox, **options)
    features.loop.ready = lambda: runtime.ready
    features.register(runtime.tutor)
    runtime.quizzes = features
    return features
