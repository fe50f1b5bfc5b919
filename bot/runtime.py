"""Wires settings, database, knowledge and use cases into one object each entry point shares."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Settings
from bot.core.ask import AskService
from bot.core.demos import DemoJobs, JobBackend, JobLimits
from bot.core.knowledge import DEFAULT_DOCS, KnowledgeService
from bot.core.qa import QuestionAnswering
from bot.core.tutor import Tutor
from bot.db.engine import Database
from knowledge.cache import EmbeddingCache
from knowledge.embedder import Embedder, get_embedder
from knowledge.index import Encoder

log = logging.getLogger(__name__)


class SchemaNotReady(Exception):
    """The database is unreachable or behind the newest migration."""


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
    ready: bool = field(default=False)
    workers_started: bool = field(default=False)
    _workers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self) -> None:
        """Load the model and build the index (slow: call it off the event loop)."""
        if isinstance(self.encoder, Embedder):
            self.encoder.load()
        self.knowledge.reload()
        self.ready = True

    def require_schema(self) -> None:
        """Raise SchemaNotReady unless the database is at the newest migration."""
        from sqlalchemy.exc import SQLAlchemyError

        from bot.db.migrate import is_up_to_date

        try:
            ready = is_up_to_date(self.database.engine)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise SchemaNotReady(f"cannot open the database: {reason}") from None
        if not ready:
            raise SchemaNotReady("the database is not migrated yet: run `torchtutor migrate` first")

    def start_workers(self) -> None:
        """Start the job backend: the embedded local pool, or the Celery client and its reaper."""
        with self._workers_lock:
            if not self.workers_started:
                self.demos.backend.start()
                self.workers_started = True

    def stop_workers(self) -> None:
        """Stop the job backend (a running local job gets a few seconds, then is failed with the reason)."""
        with self._workers_lock:
            if self.workers_started:
                self.workers_started = False
                self.demos.backend.stop()

    def close(self) -> None:
        """Stop workers and release connections."""
        self.stop_workers()
        self.database.dispose()


def knowledge_paths(settings: Settings, override: Sequence[Path] | None = None) -> list[Path]:
    """The knowledge set: the given paths, or the bundled docs plus TORCHTUTOR_KNOWLEDGE_PATHS."""
    if override:
        return list(override)
    return [DEFAULT_DOCS, *settings.extra_knowledge_paths()]


def make_backend(settings: Settings, database: Database) -> JobBackend:
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
                        queue_timeout_s=settings.job_queue_timeout_s)


def build_runtime(settings: Settings, *, paths: Sequence[Path] | None = None, encoder: Encoder | None = None,
                  database: Database | None = None, use_database_entries: bool = True,
                  backend: JobBackend | None = None) -> Runtime:
    """A runtime for these settings; nothing slow happens until `start()` (and `start_workers()`)."""
    from workers.demos import load_demo_modules

    load_demo_modules(settings.demo_module_names())
    database = database or Database.from_url(settings.database_url)
    encoder = encoder or get_embedder()
    cache = EmbeddingCache(settings.cache_dir, getattr(encoder, "name", "encoder"))
    knowledge = KnowledgeService(knowledge_paths(settings, paths), encoder, cache,
                                 database if use_database_entries else None)
    ask = AskService(knowledge, encoder, threshold=settings.answer_threshold,
                     max_chars=settings.max_question_chars)
    tutor = Tutor()
    qa = QuestionAnswering(ask, database)
    tutor.command("ask", qa.ask)
    tutor.action("ask", qa.show_entry)
    tutor.action("feedback", qa.feedback)
    demos = DemoJobs(database, backend or make_backend(settings, database),
                     limits=JobLimits(per_person=settings.jobs_per_person, queue=settings.job_queue_limit))
    tutor.command("demo", demos.command)
    tutor.action("demo", demos.run_action)
    tutor.action("job", demos.job_action)
    return Runtime(settings, database, encoder, knowledge, ask, tutor, qa, demos)
