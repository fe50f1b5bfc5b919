"""The live knowledge base: document entries overlaid with admin entries, indexed, swapped atomically."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import KnowledgeEntry
from knowledge.cache import EmbeddingCache
from knowledge.entries import Entry
from knowledge.index import Encoder, KnowledgeIndex
from knowledge.loader import load_entries

log = logging.getLogger(__name__)

DEFAULT_DOCS = Path(__file__).resolve().parents[2] / "knowledge" / "docs"


class KnowledgeService:
    """Holds the current index; `reload()` rebuilds it from documents and the database, then swaps it in."""

    def __init__(self, paths: Sequence[Path], encoder: Encoder, cache: EmbeddingCache | None = None,
                 database: Database | None = None) -> None:
        self._paths = list(paths)
        self._encoder = encoder
        self._cache = cache
        self._database = database
        self._lock = threading.Lock()
        self._index = KnowledgeIndex([], _empty(encoder), _no_groups())
        self.version = 0

    @property
    def index(self) -> KnowledgeIndex:
        """The current snapshot; safe to use while a reload builds the next one."""
        return self._index

    def reload(self) -> KnowledgeIndex:
        """Rebuild from the sources and swap the new index in."""
        with self._lock:
            entries = merge_entries(load_entries(self._paths), self._database_entries())
            index = KnowledgeIndex.build(entries, self._encoder, self._cache)
            self._index = index
            self.version += 1
            log.info("knowledge index v%d: %d entries", self.version, len(index))
            return index

    def _database_entries(self) -> list[tuple[Entry, bool]]:
        if self._database is None:
            return []
        with self._database.session() as session:
            rows = session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.id)).all()
        return [(entry_from_row(row), row.deleted) for row in rows]


def merge_entries(documents: list[Entry], overrides: list[tuple[Entry, bool]]) -> list[Entry]:
    """Document entries with admin entries replacing, adding or (when deleted) removing by id."""
    merged = {entry.id: entry for entry in documents}
    for entry, deleted in overrides:
        if deleted:
            merged.pop(entry.id, None)
        else:
            merged[entry.id] = entry
    return list(merged.values())


def entry_from_row(row: KnowledgeEntry) -> Entry:
    """The Entry an admin-edited row stands for."""
    return Entry(id=row.id, question=row.question, answer=row.answer, aliases=tuple(row.aliases or ()),
                 tags=tuple(row.tags or ()), demo=row.demo, source="database", position=row.version)


def _empty(encoder: Encoder):  # type: ignore[no-untyped-def]
    import numpy as np

    return np.zeros((0, encoder.dimension), dtype=np.float32)


def _no_groups():  # type: ignore[no-untyped-def]
    import numpy as np

    return np.zeros((0,), dtype=np.int64)
