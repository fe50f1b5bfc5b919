"""Knowledge gaps: the questions the bot could not answer well, grouped by meaning, most asked first.

A question shows a gap when it was declined, answered with a score just above the threshold (low confidence),
or voted 👎. Such questions are embedded and grouped greedily: each joins the group whose centroid it is most
similar to, if that similarity reaches `similarity`, else it starts a group. A group is a gap; its representative
is the member nearest the centroid. Questions that the knowledge base answers confidently now (someone added an
entry since) drop out by themselves; an admin can also dismiss a gap or mark it resolved, which records every
question in it in `knowledge_gap_marks` so it stays off the list.

The one definition of a gap: `torchtutor gaps`, the dashboard's gaps page and `/api/v1/stats/gaps` all list
(and mark) through `GapFinder`, so a gap dismissed in one is gone from the others.

Platform-neutral and blocking (it encodes): call it off the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bot.core.answering.matching import AskService
from bot.core.errors import BadInput, NotFound
from bot.core.text import has_words, normalise_question
from bot.db import knowledge_repo
from bot.db.engine import Database
from knowledge.index import Encoder

SIMILARITY = 0.55
MAX_QUESTIONS = 5000
MAX_EXAMPLES = 5
MARKS = ("dismissed", "resolved")


@dataclass(frozen=True)
class GapWindow:
    """Which questions count: asked from `since` to before `until` (either open), on one platform or all."""

    since: datetime | None = None
    until: datetime | None = None
    platform: str | None = None

    @classmethod
    def last_days(cls, days: float | None, now: datetime | None = None) -> GapWindow:
        """The last `days` days up to now (every question when None)."""
        if days is None:
            return cls()
        return cls(since=(now or datetime.now(UTC)) - timedelta(days=days))


@dataclass(frozen=True)
class GapQuestion:
    """One asked question that shows a gap, and why."""

    question_id: int
    text: str
    reason: str  # "declined" | "low_confidence" | "downvoted"
    score: float
    entry_id: str | None
    user_id: int | None
    platform: str
    asked_at: datetime


@dataclass(frozen=True)
class Gap:
    """Similar questions the knowledge base does not answer well."""

    key: str
    question: str
    asked: int
    people: int
    platforms: tuple[str, ...]
    first_asked: datetime
    last_asked: datetime
    reasons: dict[str, int]
    examples: tuple[str, ...]
    question_ids: tuple[int, ...] = field(repr=False)
    nearest_entry_id: str | None = None
    nearest_entry_question: str | None = None
    nearest_score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""
        return {"key": self.key, "question": self.question, "asked": self.asked, "people": self.people,
                "platforms": list(self.platforms), "first_asked": self.first_asked.isoformat(),
                "last_asked": self.last_asked.isoformat(), "reasons": dict(self.reasons),
                "examples": list(self.examples), "question_ids": list(self.question_ids),
                "nearest_entry": ({"entry_id": self.nearest_entry_id, "entry_question": self.nearest_entry_question,
                                   "score": round(self.nearest_score, 4)} if self.nearest_entry_id else None)}


def cluster(vectors: np.ndarray, similarity: float = SIMILARITY) -> list[list[int]]:
    """Greedy centroid clustering of unit vectors: row indices per group, in order of each group's first row."""
    groups: list[list[int]] = []
    sums = np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32)
    for row, vector in enumerate(vectors):
        if groups:
            centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
            scores = centroids @ vector
            best = int(np.argmax(scores))
            if scores[best] >= similarity:
                groups[best].append(row)
                sums[best] += vector
                continue
        groups.append([row])
        sums = np.vstack([sums, vector[None, :].astype(np.float32)])
    return groups


class GapFinder:
    """Finds, lists and marks knowledge gaps."""

    def __init__(self, database: Database, ask: AskService, encoder: Encoder, *, similarity: float = SIMILARITY
                 ) -> None:
        self._database = database
        self._ask = ask
        self._encoder = encoder
        self.similarity = similarity

    def gaps(self, *, since_days: float | None = None, limit: int | None = None, now: datetime | None = None,
             window: GapWindow | None = None) -> list[Gap]:
        """The current gaps, most asked first (then most recent), of the last `since_days` days or of `window`."""
        questions = self._questions(window or GapWindow.last_days(since_days, now))
        if not questions:
            return []
        vectors = self._encoder.encode([q.text for q in questions])
        answers = [self._ask.answer_vector(q.text, v) for q, v in zip(questions, vectors, strict=True)]
        keep = [i for i, (q, a) in enumerate(zip(questions, answers, strict=True)) if not self._covered(q, a)]
        questions = [questions[i] for i in keep]
        vectors, answers = vectors[keep], [answers[i] for i in keep]
        order = sorted(range(len(questions)), key=lambda i: (questions[i].asked_at, questions[i].question_id))
        gaps = []
        for members in cluster(vectors[order], self.similarity) if order else []:
            rows = [order[m] for m in members]
            gaps.append(_gap([questions[i] for i in rows], vectors[rows], [answers[i] for i in rows]))
        gaps.sort(key=lambda g: (-g.asked, -g.last_asked.timestamp(), g.key))
        return gaps[:limit] if limit else gaps

    def mark(self, key: str, *, status: str, by: str, note: str = "", since_days: float | None = None,
             window: GapWindow | None = None) -> int:
        """Take every question of a gap off the list as `dismissed` or `resolved`; how many questions.

        The gap is looked up among those listed for the same window, so the questions marked are the ones shown.
        """
        if status not in MARKS:
            raise BadInput(f"A gap is marked {' or '.join(MARKS)}, not {status!r}.")
        by = " ".join((by or "").split())
        if not by:
            raise BadInput("Say who is marking the gap.")
        gap = next((g for g in self.gaps(since_days=since_days, window=window) if g.key == key), None)
        if gap is None:
            raise NotFound(f"There is no gap {key} (any more).")
        with self._database.transaction() as session:
            return knowledge_repo.mark_gap_questions(session=session, question_ids=gap.question_ids, status=status,
                                                     marked_by=by[:128], note=note)

    def _questions(self, window: GapWindow) -> list[GapQuestion]:
        low = self._ask.threshold + self._ask.low_confidence_margin
        with self._database.session() as session:
            rows = knowledge_repo.gap_candidates(session=session, low_score=low, since=window.since,
                                                 until=window.until, platform=window.platform, limit=MAX_QUESTIONS)
        found = []
        for row, downvotes in rows:
            text, _ = normalise_question(row.text, self._ask.max_chars)
            if not has_words(text):
                continue
            reason = "downvoted" if downvotes else ("declined" if row.status != "answered" else "low_confidence")
            found.append(GapQuestion(row.id, text, reason, row.score, row.entry_id, row.user_id, row.platform,
                                     row.created_at))
        return found

    def _covered(self, question: GapQuestion, answer: Any) -> bool:
        """Whether the knowledge base now answers the question well (someone filled the gap since)."""
        if not answer.answered or self._ask.is_low_confidence(answer):
            return False
        if question.reason == "downvoted":  # the same entry that earned the 👎 is no fix
            return bool(answer.hit.entry.id != question.entry_id)
        return True


def _gap(members: Sequence[GapQuestion], vectors: np.ndarray, answers: Sequence[Any]) -> Gap:
    centroid = vectors.mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    closeness = vectors @ centroid
    representative = members[int(np.argmax(closeness))]
    reasons: dict[str, int] = {}
    for member in members:
        reasons[member.reason] = reasons.get(member.reason, 0) + 1
    examples: dict[str, None] = {}
    for member in sorted(members, key=lambda m: (m.asked_at, m.question_id), reverse=True):
        examples.setdefault(member.text, None)
    best = max((a for a in answers if a.hit is not None), key=lambda a: a.hit.score, default=None)
    return Gap(
        key=f"gap-{min(m.question_id for m in members)}",
        question=representative.text,
        asked=len(members),
        people=len({m.user_id for m in members if m.user_id is not None}),
        platforms=tuple(sorted({m.platform for m in members})),
        first_asked=min(m.asked_at for m in members),
        last_asked=max(m.asked_at for m in members),
        reasons=reasons,
        examples=tuple(list(examples)[:MAX_EXAMPLES]),
        question_ids=tuple(sorted(m.question_id for m in members)),
        nearest_entry_id=best.hit.entry.id if best else None,
        nearest_entry_question=best.hit.entry.question if best else None,
        nearest_score=best.hit.score if best else 0.0,
    )
