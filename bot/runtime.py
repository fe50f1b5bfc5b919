"""Wires settings, database, knowledge and use cases into one object each entry point shares."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Settings
from bot.core.ask import AskService
from bot.core.gaps import GapFinder
from bot.core.knowledge import DEFAULT_DOCS, KnowledgeService
from bot.core.knowledge_admin import KnowledgeAdmin
from bot.core.qa import QuestionAnswering
from bot.core.tutor import Tutor
from bot.db.engine import Database
from knowledge.cache import CachingEncoder, EmbeddingCache
from knowledge.embedder import get_embedder
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
    knowledge_admin: KnowledgeAdmin
    gaps: GapFinder
    ready: bool = field(default=False)

    def start(self) -> None:
        """Load the model, build the index and start watching for admin edits (slow: call it off the event loop)."""
        load = getattr(self.encoder, "load", None)
        if load is not None:
            load()
        self.knowledge.reload()
        self.knowledge.watch(self.settings.knowledge_poll_seconds)
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
        """Stop background threads and release connections."""
        self.knowledge.close()
        self.ask.close()
        self.qa.close()
        self.database.dispose()


def knowledge_paths(settings: Settings, override: Sequence[Path] | None = None) -> list[Path]:
    """The knowledge set: the given paths, or the bundled docs plus TORCHTUTOR_KNOWLEDGE_PATHS."""
    if override:
        return list(override)
    return [DEFAULT_DOCS, *settings.extra_knowledge_paths()]


def build_runtime(settings: Settings, *, paths: Sequence[Path] | None = None, encoder: Encoder | None = None,
                  database: Database | None = None, use_database_entries: bool = True,
                  batch_encodes: bool = True) -> Runtime:
    """A runtime for these settings; nothing slow happens until `start()`.

    With `batch_encodes`, questions asked concurrently (HTTP, chat) are encoded together by a micro-batcher;
    one-shot commands that already batch (`ask --from-file`, `eval`) turn it off.
    """
    database = database or Database.from_url(settings.database_url)
    encoder = encoder or get_embedder()
    cache = EmbeddingCache(settings.cache_dir, getattr(encoder, "name", "encoder"))
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
    qa = QuestionAnswering(ask, database)
    tutor.command("ask", qa.ask)
    tutor.action("ask", qa.show_entry)
    tutor.action("feedback", qa.feedback)
    return Runtime(settings, database, encoder, knowledge, ask, tutor, qa, admin, gaps)
