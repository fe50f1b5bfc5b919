"""The searchable index over knowledge entries: one vector per phrasing, best phrasing wins per entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from knowledge.cache import EmbeddingCache
from knowledge.entries import Entry
from knowledge.retrieval import best_per_group


class Encoder(Protocol):
    """Anything that turns texts into unit vectors."""

    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    """An entry and how well it matches a question (cosine similarity, -1..1)."""

    entry: Entry
    score: float


class KnowledgeIndex:
    """An immutable snapshot of entries and their vectors; rebuild and swap to change it."""

    def __init__(self, entries: Sequence[Entry], vectors: np.ndarray, groups: np.ndarray) -> None:
        self.entries = list(entries)
        self.by_id = {entry.id: entry for entry in self.entries}
        self._vectors = vectors
        self._groups = groups

    @classmethod
    def build(cls, entries: Sequence[Entry], encoder: Encoder, cache: EmbeddingCache | None = None
              ) -> KnowledgeIndex:
        """Encode every phrasing of every entry (through the cache when given)."""
        texts, groups = _phrasings(entries)
        vectors = cache.encode(texts, encoder) if cache else encoder.encode(texts)
        return cls(entries, vectors, np.asarray(groups, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, query: np.ndarray, top_k: int = 5) -> list[Hit]:
        """Entries ranked by their best phrasing's similarity to one query vector."""
        if not self.entries:
            return []
        per_entry = best_per_group(self._vectors @ query, self._groups, len(self.entries))
        k = min(top_k, len(self.entries))
        top = np.argpartition(-per_entry, k - 1)[:k]
        ordered = top[np.argsort(-per_entry[top], kind="stable")]
        return [Hit(self.entries[i], float(per_entry[i])) for i in ordered]


def _phrasings(entries: Sequence[Entry]) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    groups: list[int] = []
    for position, entry in enumerate(entries):
        for text in entry.texts():
            texts.append(text)
            groups.append(position)
    return texts, groups
