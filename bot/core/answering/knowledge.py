"""The live knowledge base: document entries overlaid with admin entries, indexed, swapped atomically."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.db import knowledge_repo
from bot.db.engine import Database
from bot.db.models import KnowledgeEntry
from knowledge.cache import EmbeddingCache
from knowledge.calibration import FALLBACK, Calibration, calibrate
from knowledge.entries import Entry
from knowledge.index import Encoder, KnowledgeIndex
from knowledge.loader import BUNDLED_DOCS, load_entries

log = logging.getLogger(__name__)

DEFAULT_DOCS = BUNDLED_DOCS


@dataclass(frozen=True)
class Snapshot:
    """One published state of the knowledge base: the index, its version number and its calibration, read together."""

    index: KnowledgeIndex
    version: int
    calibration: Calibration = FALLBACK


class KnowledgeService:
    """Holds the current index; `reload()` rebuilds it from documents and the database, then swaps it in.

    Admin edits reach a running process without a restart: `refresh()` compares a cheap stamp of the entries
    table (row count, newest change, sum of versions) with the one the index was built from and rebuilds only
    when it moved; `watch()` runs it every few seconds in a background thread. A rebuild re-encodes only texts
    the embedding cache has not seen, so an edit costs one small encode, not the whole knowledge base.
    """

    def __init__(self, paths: Sequence[Path], encoder: Encoder, cache: EmbeddingCache | None = None,
                 database: Database | None = None) -> None:
        self._paths = list(paths)
        self._encoder = encoder
        self._cache = cache
        self._database = database
        self._lock = threading.Lock()
        self._documents: list[Entry] | None = None
        self._stamp: Any = None
        self._snapshot = Snapshot(KnowledgeIndex.empty(encoder.dimension), 0)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def index(self) -> KnowledgeIndex:
        """The current index; safe to use while a rebuild builds the next one."""
        return self._snapshot.index

    @property
    def calibration(self) -> Calibration:
        """The thresholds fitted to the current index (the fallback constants when not fitted)."""
        return self._snapshot.calibration

    @property
    def version(self) -> int:
        """Goes up by one with every rebuild; answer caches key on it."""
        return self._snapshot.version

    def snapshot(self) -> Snapshot:
        """The current index and its version, consistent with each other."""
        return self._snapshot

    @property
    def document_entries(self) -> list[Entry]:
        """The entries of the knowledge documents, before admin overrides (loaded on first use)."""
        with self._lock:
            return list(self._load_documents())

    def reload(self) -> KnowledgeIndex:
        """Re-read the documents and the database, rebuild, and swap the new index in."""
        with self._lock:
            self._documents = None
            return self._rebuild()

    def refresh(self) -> bool:
        """Rebuild if admin entries changed since the last build; whether it did."""
        if self._database is None:
            return False
        with self._lock:
            if self._read_stamp() == self._stamp:
                return False
            self._rebuild()
            return True

    def watch(self, interval: float) -> None:
        """Call `refresh()` every `interval` seconds in a daemon thread until `close()`."""
        if self._database is None or interval <= 0 or self._watcher is not None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, args=(interval,), name="knowledge-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                if self.refresh():
                    log.info("knowledge entries changed in the database: index v%d", self.version)
            except SQLAlchemyError as exc:
                log.warning("could not check the knowledge entries for changes: %s", exc)
            except Exception:
                log.exception("knowledge refresh failed; keeping the current index")

    def _rebuild(self) -> KnowledgeIndex:
        stamp = self._read_stamp()
        entries = merge_entries(self._load_documents(), self._database_entries())
        index = KnowledgeIndex.build(entries, self._encoder, self._cache)
        calibration = calibrate(index, self._encoder, self._cache)
        self._stamp = stamp
        self._snapshot = Snapshot(index, self._snapshot.version + 1, calibration)
        log.info("knowledge index v%d: %d entries, answer threshold %.3f (%s)", self._snapshot.version, len(index),
                 calibration.answer, calibration.reason)
        return index

    def _load_documents(self) -> list[Entry]:
        if self._documents is None:
            self._documents = load_entries(self._paths)
        return self._documents

    def _read_stamp(self) -> Any:
        if self._database is None:
            return None
        with self._database.session() as session:
            return knowledge_repo.entries_stamp(session=session)

    def _database_entries(self) -> list[tuple[Entry, bool]]:
        if self._database is None:
            return []
        with self._database.session() as session:
            rows = knowledge_repo.entry_rows(session=session)
            return [(entry_from_row(row), row.deleted) for row in rows]


def merge_entries(documents: list[Entry], overrides: list[tuple[Entry, bool]]) -> list[Entry]:
    """Document entries with admin entries replacing, adding or (when deleted) removing by id.

    An admin edit of a document entry keeps the document's `Docs:` citations, which the database does not store.
    """
    merged = {entry.id: entry for entry in documents}
    for entry, deleted in overrides:
        if deleted:
            merged.pop(entry.id, None)
        else:
            kept = merged.get(entry.id)
            merged[entry.id] = replace(entry, docs=kept.docs) if kept and not entry.docs else entry
    return list(merged.values())


def entry_from_row(row: KnowledgeEntry) -> Entry:
    """The Entry an admin-edited row stands for."""
    return Entry(id=row.id, question=row.question, answer=row.answer, aliases=tuple(row.aliases or ()),
                 tags=tuple(row.tags or ()), demo=row.demo, source="database", position=row.version)
