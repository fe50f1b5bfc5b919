"""The ask use case: find the entry that answers a question, or decline honestly.

The decision, tuned with `torchtutor eval` on `knowledge/eval/dev_wild.tsv` and `tuning_questions.tsv`, with
`knowledge/eval/dev_questions.tsv` held out (see README, "Retrieval and abstention"):
- the nearest entries by fused score (0.6 x MiniLM cosine + 0.4 x normalised BM25); when the question names
  APIs (`torch.stack`, `BCEWithLogitsLoss`), an entry about them wins over a neighbour scoring a little higher,
  and an entry that never writes them loses a little (`knowledge.precision`);
- the best must reach the answer threshold, fitted to the loaded knowledge (`knowledge.calibration`) unless the
  configuration fixes it, else the bot declines and offers the nearest entries instead;
- a question that names another framework or technology (TensorFlow, JAX, CSS, ...) and not PyTorch is
  declined whatever its score: similarity cannot tell "CUDA out of memory in TensorFlow" from the PyTorch entry;
  one that weighs PyTorch against another framework is answered only by an entry about that framework, which
  then needs only the related threshold (naming both frameworks already says which entry is meant);
- when another entry scores within `CLOSE_MARGIN` of the answer, the answer says so and offers it;
- related entries are the next best distinct entries scoring at least the related threshold, at most three.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.answering.knowledge import KnowledgeService
from bot.core.bounded import Bounded
from bot.core.text import has_words, normalise_question
from knowledge import docs_links
from knowledge.batching import MicroBatcher
from knowledge.calibration import Calibration, fixed
from knowledge.index import Encoder, Hit
from knowledge.precision import discounted, named_apis, prefer_named, uncovered
from knowledge.topic import compared_framework, foreign_topic, names_framework

RELATED_LIMIT = 3
# Entries searched for each question: enough for the named-API re-ranking and the comparison routing.
CANDIDATES = 10
# Another entry scoring at most this far below the answer is close enough to offer it as well.
CLOSE_MARGIN = 0.03
# Answered questions scoring less than this much above the threshold count as low-confidence (knowledge gaps).
LOW_CONFIDENCE_MARGIN = 0.06


@dataclass(frozen=True)
class Answer:
    """The outcome of one question: the matched entry (or none) and related entries.

    `note` says why, when there is something to say: "empty" (no words), "truncated" (capped input),
    "off_topic:<name>" (declined as a question about another framework or technology), "no_comparison:<name>"
    (declined: it weighs PyTorch against a framework no entry compares it with). `alternative` is an entry that
    scored about as well as the answer; `related` holds it first. A declined question's `related` are the
    nearest entries.
    """

    question: str
    status: str
    hit: Hit | None
    related: tuple[Hit, ...] = ()
    note: str | None = None
    alternative: Hit | None = None
    latency_ms: float = field(default=0.0, compare=False)
    cached: bool = field(default=False, compare=False)

    @property
    def answered(self) -> bool:
        return self.status == "answered"

    @property
    def compared(self) -> str | None:
        """The framework a declined comparison weighed PyTorch against, when no entry compares the two."""
        return self.note.split(":", 1)[1] if self.note and self.note.startswith("no_comparison:") else None

    @property
    def off_topic(self) -> str | None:
        """The other framework or technology the question was about, when it was declined for that."""
        return self.note.split(":", 1)[1] if self.note and self.note.startswith("off_topic:") else None

    @property
    def docs(self) -> tuple[tuple[str, str], ...]:
        """(label, url) links to the official documentation: the pages the answer's entry cites, or for a decline
        a search of the docs for the question (none for a question about another technology)."""
        if self.answered and self.hit is not None:
            return docs_links.links(self.hit.entry.docs)
        return () if self.off_topic is not None else (docs_links.search(self.question),)

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
            "docs": [{"title": title, "url": url} for title, url in self.docs],
        }


class AskService:
    """Answers questions from the current knowledge index.

    `answer`/`answer_many` are blocking (call them off the event loop); `answer_async` keeps the event loop free
    itself: cache hits are served at once, anything else is encoded and searched in a worker thread, together
    with the questions asked meanwhile when `batching` is on (a micro-batcher, `knowledge.batching`).
    """

    def __init__(self, knowledge: KnowledgeService, encoder: Encoder, *, threshold: float | None = None,
                 related_threshold: float | None = None, max_chars: int = 2000, cache_size: int = 2048,
                 batching: bool = False, max_batch: int = 64, max_wait: float = 0.001) -> None:
        self.knowledge = knowledge
        self._encoder = encoder
        # Thresholds given here are fixed; without them each index brings its own fitted calibration.
        configured = threshold is not None or related_threshold is not None
        self._fixed = fixed(threshold, related_threshold) if configured else None
        self.max_chars = max_chars
        self._cache: Bounded[tuple[int, str], Answer] = Bounded(cache_size)
        self._cache_lock = threading.Lock()
        self.low_confidence_margin = LOW_CONFIDENCE_MARGIN
        # With batching, single questions asked at the same time (HTTP, chat) are encoded and searched together
        # in one background thread: one model call per batch, and no encoding on any event loop.
        self.batcher: MicroBatcher[tuple[str, tuple[str, bool]], Answer] | None = None
        if batching:
            self.batcher = MicroBatcher(self._answer_batch, max_batch=max_batch, max_wait=max_wait,
                                        name="ask-batcher")

    @property
    def calibration(self) -> Calibration:
        """The thresholds in use now: the configured ones, or those fitted to the current index."""
        return self._calibration(self.knowledge.snapshot().calibration)

    @property
    def threshold(self) -> float:
        """The answer threshold in use now."""
        return self.calibration.answer

    @property
    def related_threshold(self) -> float:
        """The related-entry threshold in use now."""
        return self.calibration.related

    def _calibration(self, fitted: Calibration) -> Calibration:
        return self._fixed or fitted

    def answer(self, question: str) -> Answer:
        """Answer one question (blocking; batched with concurrent callers when batching is on)."""
        if self.batcher is None:
            return self.answer_many([question])[0]
        started = time.perf_counter()
        text, truncated = normalise_question(question, self.max_chars)
        answer = self._early(question, text) or self.batcher((question, (text, truncated)))
        return _with_latency(answer, (time.perf_counter() - started) * 1000)

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

    async def answer_async(self, question: str) -> Answer:
        """Answer one question without blocking the event loop."""
        started = time.perf_counter()
        text, truncated = normalise_question(question, self.max_chars)
        answer = self._early(question, text)
        if answer is None:
            item = (question, (text, truncated))
            if self.batcher is not None:
                answer = await asyncio.wrap_future(self.batcher.submit(item))
            else:
                answer = (await asyncio.to_thread(self._answer_batch, [item]))[0]
        return _with_latency(answer, (time.perf_counter() - started) * 1000)

    def close(self) -> None:
        """Stop the batching thread, if any."""
        if self.batcher is not None:
            self.batcher.close()

    def _answer_batch(self, items: list[tuple[str, tuple[str, bool]]]) -> list[Answer]:
        """Encode a batch of cleaned questions in one model call, then decide each."""
        vectors = self._encoder.encode([cleaned[0] for _, cleaned in items])
        return [self._decide(question, cleaned, vector) for (question, cleaned), vector in zip(items, vectors,
                                                                                              strict=True)]

    def answer_vector(self, question: str, vector: Any) -> Answer:
        """The decision for a question whose vector is known already (knowledge gaps re-check old questions)."""
        text, truncated = normalise_question(question, self.max_chars)
        if not has_words(text):
            return Answer(question, "no_match", None, note="empty")
        return self._decide(question, (text, truncated), vector)

    def is_low_confidence(self, answer: Answer) -> bool:
        """Whether an answered question only just cleared the threshold."""
        return bool(answer.answered and answer.hit and answer.hit.score < self.threshold + self.low_confidence_margin)

    def _early(self, question: str, text: str) -> Answer | None:
        if not has_words(text):
            return Answer(question, "no_match", None, note="empty")
        key = (self.knowledge.version, text)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        return replace(cached, question=question, cached=True) if cached else None

    def _decide(self, question: str, cleaned: tuple[str, bool], vector: Any) -> Answer:
        text, truncated = cleaned
        snapshot = self.knowledge.snapshot()
        calibration = self._calibration(snapshot.calibration)
        hits = snapshot.index.search(vector, top_k=CANDIDATES, text=text)
        foreign = _vetoing_topic(text, hits[0] if hits else None)
        compared = None if foreign else compared_framework(text)
        if compared:
            hits = [hit for hit in hits if _is_about_framework(hit, compared)]
        names = named_apis(text)
        hits = prefer_named(hits, names)
        best = None
        if hits:
            best = uncovered(discounted(hits[0], names, text), snapshot.index.coverage(hits[0].entry.id, text),
                             text)
        note = (f"off_topic:{foreign}" if foreign else f"no_comparison:{compared}" if compared and not hits
                else "truncated" if truncated else None)
        bar = calibration.related if compared and hits else calibration.answer
        if best is not None and best.score >= bar and not foreign:
            alternative = _close_alternative(hits[1:], best, max(best.score - CLOSE_MARGIN, calibration.related))
            related = self._related(hits[1:], best, calibration.related)
            if alternative is not None:
                related = (alternative, *[h for h in related if h is not alternative])[:RELATED_LIMIT]
            answer = Answer(question, "answered", best, related, note, alternative)
        else:
            # The three nearest entries, unless even the nearest scores like an off-topic question.
            noise = foreign or not hits or hits[0].score < calibration.suggest
            nearest = () if noise else self._related(hits, None, floor=-1.0)
            answer = Answer(question, "no_match", best, nearest, note)
        self._remember((snapshot.version, text), answer)
        return answer

    def _related(self, hits: list[Hit], best: Hit | None, floor: float) -> tuple[Hit, ...]:
        """Up to three next-best entries scoring at least `floor`, none repeating the answer's question."""
        seen = {_fold(best.entry.question)} if best else set()
        related = []
        for hit in hits:
            key = _fold(hit.entry.question)
            if hit.score < floor or key in seen:
                continue
            seen.add(key)
            related.append(hit)
            if len(related) == RELATED_LIMIT:
                break
        return tuple(related)

    def _remember(self, key: tuple[int, str], answer: Answer) -> None:
        with self._cache_lock:
            self._cache.put(key, answer)


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _with_latency(answer: Answer, elapsed_ms: float) -> Answer:
    return replace(answer, latency_ms=elapsed_ms)


def _vetoing_topic(text: str, best: Hit | None) -> str | None:
    """The other framework a question is about, unless the best entry is about it too (an admin may add one)."""
    foreign = foreign_topic(text)
    if foreign is None or best is None:
        return foreign
    return None if foreign_topic(" ".join(best.entry.texts())) == foreign else foreign


def _is_about_framework(hit: Hit, framework: str) -> bool:
    """Whether an entry's question, phrasings or tags name the framework (a comparison entry does)."""
    return names_framework(" ".join([*hit.entry.texts(), *hit.entry.tags]), framework)


def _close_alternative(hits: list[Hit], best: Hit, floor: float) -> Hit | None:
    """The best other entry (another question) scoring at least `floor`, if any."""
    return next((hit for hit in hits if hit.score >= floor and _fold(hit.entry.question) != _fold(best.entry.question)),
                None)

