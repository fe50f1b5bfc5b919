"""The ask use case: find the entry that answers a question, or decline honestly."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.knowledge import KnowledgeService
from bot.core.text import has_words, normalise_question
from knowledge.index import Encoder, Hit

RELATED_LIMIT = 3


@dataclass(frozen=True)
class Answer:
    """The outcome of one question: the matched entry (or none) and related entries."""

    question: str
    status: str
    hit: Hit | None
    related: tuple[Hit, ...] = ()
    note: str | None = None
    latency_ms: float = field(default=0.0, compare=False)

    @property
    def answered(self) -> bool:
        return self.status == "answered"

    def to_json(self) -> dict[str, Any]:
        """The `ask --json` object of the contract."""
        entry = self.hit.entry if self.hit and self.answered else None
        return {
            "question": self.question,
            "status": self.status,
            "entry_id": entry.id if entry else None,
            "entry_question": entry.question if entry else None,
            "score": round(self.hit.score, 4) if self.hit else 0.0,
            "answer": entry.answer if entry else None,
            "related": [
                {"entry_id": h.entry.id, "entry_question": h.entry.question, "score": round(h.score, 4)}
                for h in self.related
            ],
        }


class AskService:
    """Answers questions from the current knowledge index; CPU-bound, so call it off the event loop."""

    def __init__(self, knowledge: KnowledgeService, encoder: Encoder, *, threshold: float = 0.5,
                 related_threshold: float = 0.3, max_chars: int = 2000, cache_size: int = 2048) -> None:
        self.knowledge = knowledge
        self._encoder = encoder
        self.threshold = threshold
        self.related_threshold = related_threshold
        self.max_chars = max_chars
        self._cache: OrderedDict[tuple[int, str], Answer] = OrderedDict()
        self._cache_size = cache_size

    def answer(self, question: str) -> Answer:
        """Answer one question."""
        return self.answer_many([question])[0]

    def answer_many(self, questions: list[str]) -> list[Answer]:
        """Answer several questions with one batched encode."""
        started = time.perf_counter()
        cleaned = [normalise_question(q, self.max_chars) for q in questions]
        results: list[Answer | None] = [self._early(q, text) for q, (text, _) in zip(questions, cleaned, strict=True)]
        pending = [i for i, r in enumerate(results) if r is None]
        if pending:
            vectors = self._encoder.encode([cleaned[i][0] for i in pending])
            for i, vector in zip(pending, vectors, strict=True):
                results[i] = self._decide(questions[i], cleaned[i], vector)
        elapsed = (time.perf_counter() - started) * 1000
        return [_with_latency(r, elapsed) for r in results if r is not None]

    def _early(self, question: str, text: str) -> Answer | None:
        if not has_words(text):
            return Answer(question, "no_match", None, note="empty")
        cached = self._cache.get((self.knowledge.version, text))
        return replace(cached, question=question) if cached else None

    def _decide(self, question: str, cleaned: tuple[str, bool], vector: Any) -> Answer:
        text, truncated = cleaned
        hits = self.knowledge.index.search(vector, top_k=RELATED_LIMIT + 1)
        note = "truncated" if truncated else None
        if hits and hits[0].score >= self.threshold:
            related = tuple(h for h in hits[1:] if h.score >= self.related_threshold)[:RELATED_LIMIT]
            answer = Answer(question, "answered", hits[0], related, note)
        else:
            related = tuple(h for h in hits if h.score >= self.related_threshold)[:RELATED_LIMIT]
            answer = Answer(question, "no_match", hits[0] if hits else None, related, note)
        self._remember((self.knowledge.version, text), answer)
        return answer

    def _remember(self, key: tuple[int, str], answer: Answer) -> None:
        self._cache[key] = answer
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _with_latency(answer: Answer, elapsed_ms: float) -> Answer:
    return replace(answer, latency_ms=elapsed_ms)
