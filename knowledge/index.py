"""The searchable index over knowledge entries: dense vectors and BM25, fused into one score per entry.

Each entry is matched through every text that can stand for it: its question, its other phrasings
("Also asked:") and the passages of its answer, by cosine similarity (the best text wins); and through its
words, by BM25 over the question field (question, phrasings, tags) and over the answer (code included, so
pasted identifiers and error messages match), the better of the two normalised to 0..1. The two scores are
fused by `knowledge.retrieval.fuse`. Ranking weighs a match in the answer a little less than one in the question
field (`ANSWER_RANK_WEIGHT`): an entry that asks what the question asks beats one that merely mentions it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from knowledge.cache import EmbeddingCache
from knowledge.entries import Entry
from knowledge.lexical import LexicalIndex, tokenize
from knowledge.retrieval import ANSWER_RANK_WEIGHT, DENSE_WEIGHT, best_per_run, fuse, top_k

MAX_PASSAGES = 12
_MIN_PASSAGE_CHARS = 20
_MIN_PASSAGE_WORDS = 20
_MAX_PASSAGE_WORDS = 60
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_FENCE = re.compile(r"^\s*(?:```|~~~)")


class Encoder(Protocol):
    """Anything that turns texts into unit vectors."""

    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    """An entry and how well it matches a question: the fused score, and the dense and lexical parts of it."""

    entry: Entry
    score: float
    dense: float = 0.0
    lexical: float = 0.0


def answer_passages(answer: str, limit: int = MAX_PASSAGES) -> list[str]:
    """The prose of an answer in passages of about 20 to 60 words, code blocks left out.

    Paragraphs and list items are the units; short ones are joined with their neighbours, because a lone
    five-word bullet matches far too many questions by accident.
    """
    units: list[str] = []
    current: list[str] = []
    in_code = False

    def flush() -> None:
        if current:
            units.append(" ".join(current))
            current.clear()

    for line in answer.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            flush()
            continue
        if in_code:
            continue
        if not line.strip() or _LIST_ITEM.match(line):
            flush()
        if line.strip():
            current.append(line.strip())
    flush()
    passages: list[str] = []
    chunk: list[str] = []
    for unit in units:
        if chunk and _words(chunk) + len(unit.split()) > _MAX_PASSAGE_WORDS:
            passages.append(" ".join(chunk))
            chunk = []
        chunk.append(unit)
        if _words(chunk) >= _MIN_PASSAGE_WORDS:
            passages.append(" ".join(chunk))
            chunk = []
    if chunk:
        passages.append(" ".join(chunk))
    return [p for p in passages if len(p) >= _MIN_PASSAGE_CHARS][:limit]


def _words(parts: list[str]) -> int:
    return sum(len(part.split()) for part in parts)


def entry_texts(entry: Entry) -> list[str]:
    """The texts embedded for an entry: question, other phrasings, answer passages (the question first)."""
    return [*entry.texts(), *answer_passages(entry.answer)]


class KnowledgeIndex:
    """An immutable snapshot of entries, their vectors and their BM25 indexes; rebuild and swap to change it."""

    def __init__(self, entries: Sequence[Entry], vectors: np.ndarray, starts: np.ndarray,
                 question_terms: Sequence[Sequence[str]] | None = None,
                 answer_terms: Sequence[Sequence[str]] | None = None, dense_weight: float = DENSE_WEIGHT) -> None:
        self.entries = list(entries)
        self.by_id = {entry.id: entry for entry in self.entries}
        self.dense_weight = dense_weight
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._starts = np.asarray(starts, dtype=np.int64)
        if len(self._starts) != len(self.entries):
            raise ValueError("one start row per entry is needed")
        if question_terms is None:
            question_terms = [question_field_terms(entry) for entry in self.entries]
        if answer_terms is None:
            answer_terms = [tokenize(entry.answer) for entry in self.entries]
        self._questions = LexicalIndex(question_terms)
        self._answers = LexicalIndex(answer_terms)
        self._rows = {entry.id: row for row, entry in enumerate(self.entries)}
        self._vocabularies: dict[int, frozenset[str]] = {}
        self._vocabulary_lock = threading.Lock()

    @classmethod
    def empty(cls, dimension: int) -> KnowledgeIndex:
        """An index with no entries."""
        return cls([], np.zeros((0, dimension), dtype=np.float32), np.zeros(0, dtype=np.int64))

    @classmethod
    def build(cls, entries: Sequence[Entry], encoder: Encoder, cache: EmbeddingCache | None = None
              ) -> KnowledgeIndex:
        """Encode every text of every entry (through the cache when given: unchanged texts are not re-encoded)."""
        texts: list[str] = []
        starts: list[int] = []
        for entry in entries:
            starts.append(len(texts))
            texts.extend(entry_texts(entry))
        vectors = cache.encode(texts, encoder) if cache else encoder.encode(texts)
        return cls(entries, vectors, np.asarray(starts, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nbytes(self) -> int:
        """Memory held by the vectors and the BM25 score matrices, in bytes."""
        return int(self._vectors.nbytes + self._starts.nbytes + self._questions.nbytes + self._answers.nbytes)

    def scores(self, query: np.ndarray, text: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fused, dense, lexical) scores of every entry for one query vector and the query's text."""
        dense, question, answer = self._parts(query, text)
        lexical = np.maximum(question, answer)
        return fuse(dense, lexical, self.dense_weight), dense, lexical

    def _parts(self, query: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per entry: the dense score, and the lexical scores of its question field and of its answer."""
        if not self.entries:
            empty = np.zeros(0, dtype=np.float32)
            return empty, empty, empty
        dense = best_per_run(self._vectors @ np.asarray(query, dtype=np.float32), self._starts)
        terms = tokenize(text) if text else []
        return dense, self._questions.scores(terms), self._answers.scores(terms)

    def coverage(self, entry_id: str, text: str) -> float:
        """The IDF-weighted share of the text's terms that an entry writes anywhere (question field or answer):
        low when the question is about something the entry never mentions (1.0 for a text without terms)."""
        terms = list(dict.fromkeys(tokenize(text)))
        row = self._rows.get(entry_id)
        if not terms or row is None:
            return 1.0
        vocabulary = self._vocabulary(row)
        weights = [max(self._questions.idf(term), self._answers.idf(term)) for term in terms]
        return sum(w for term, w in zip(terms, weights, strict=True) if term in vocabulary) / sum(weights)

    def _vocabulary(self, row: int) -> frozenset[str]:
        """An entry's terms, computed on first use (few entries are ever the best match of a question)."""
        with self._vocabulary_lock:
            vocabulary = self._vocabularies.get(row)
            if vocabulary is None:
                entry = self.entries[row]
                vocabulary = frozenset(question_field_terms(entry)) | frozenset(tokenize(entry.answer))
                self._vocabularies[row] = vocabulary
            return vocabulary

    def search(self, query: np.ndarray, top_k: int = 5, *, text: str = "") -> list[Hit]:
        """The top_k entries for one query vector (pass the query's text for the lexical part), ranked with the
        answer's lexical match weighed by `ANSWER_RANK_WEIGHT`; each hit's score is the fused score all the same."""
        dense, question, answer = self._parts(query, text)
        lexical = np.maximum(question, answer)
        fused = fuse(dense, lexical, self.dense_weight)
        ranking = fuse(dense, np.maximum(question, ANSWER_RANK_WEIGHT * answer), self.dense_weight)
        return [Hit(self.entries[i], float(fused[i]), float(dense[i]), float(lexical[i])) for i in _top(ranking, top_k)]


def question_field_terms(entry: Entry) -> list[str]:
    """The BM25 terms of an entry's question field: its question, other phrasings and tags."""
    return tokenize(" \n".join([*entry.texts(), *entry.tags]))


def _top(scores: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in top_k(scores, k)]
