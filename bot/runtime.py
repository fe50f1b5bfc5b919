"""Wires settings, database, knowledge and use cases into one object each entry point shares."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.core.ask import AskService
from bot.core.knowledge import DEFAULT_DOCS, KnowledgeService
from bot.core.outbox import Outbox
from bot.core.qa import QuestionAnswering
from bot.core.quiz import QuizSettings
from bot.core.quizzes import QuizFeatures
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
    ready: bool = field(default=False)
    outbox: Outbox = field(default_factory=Outbox)
    quizzes: QuizFeatures | None = None

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

    def close(self) -> None:
        """Release connections."""
        self.database.dispose()


def knowledge_paths(settings: Settings, override: Sequence[Path] | None = None) -> list[Path]:
    """The knowledge set: the given paths, or the bundled docs plus TORCHTUTOR_KNOWLEDGE_PATHS."""
    if override:
        return list(override)
    return [DEFAULT_DOCS, *settings.extra_knowledge_paths()]


def build_runtime(settings: Settings, *, paths: Sequence[Path] | None = None, encoder: Encoder | None = None,
                  database: Database | None = None, use_database_entries: bool = True) -> Runtime:
    """A runtime for these settings; nothing slow happens until `start()`."""
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
    runtime = Runtime(settings, database, encoder, knowledge, ask, tutor, qa)
    install_quizzes(runtime)
    return runtime


def install_quizzes(runtime: Runtime, **overrides: Any) -> QuizFeatures:
    """Build the quiz features on this runtime's database, knowledge and outbox and register them
    (tests pass a clock, an FSRS scheduler or a random generator as overrides)."""
    settings = runtime.settings
    options: dict[str, Any] = {
        "settings": QuizSettings(questions=settings.quiz_questions, round_questions=settings.quiz_round_questions,
                                 round_window_s=settings.quiz_round_window_s),
        "tick_s": settings.study_tick_s,
    }
    options.update(overrides)
    features = QuizFeatures.build(database=runtime.database, knowledge=runtime.knowledge, encoder=runtime.encoder,
                                  outbox=runtime.outbox, **options)
    features.loop.ready = lambda: runtime.ready
    features.register(runtime.tutor)
    runtime.quizzes = features
    return features
