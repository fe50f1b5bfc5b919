"""Knowledge gaps from declined questions, grouped by their normalised text.

A stand-in until `bot.core.admin.gaps` (issue 4) lands; the dashboard reaches it only through
`bot.web.dashboard.sources.knowledge_gaps`, so swapping it out is one function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.core.answering.matching import AskService
from bot.core.text import normalise_question
from bot.db.models import Question

_PUNCTUATION = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Gap:
    """Questions the bot could not answer that read the same once normalised."""

    key: str
    question: str
    asked: int
    people: int
    platforms: tuple[str, ...]
    first_asked: datetime
    last_asked: datetime
    answered_by: str | None = None


def gap_key(text: str) -> str:
    """Case, punctuation and spacing folded away: "What's a GPU?" and "whats a gpu" are one gap."""
    cleaned, _ = normalise_question(text, 2000)
    return _SPACE.sub(" ", _PUNCTUATION.sub("", cleaned.lower())).strip()


def group_declined(questions: Iterable[Question]) -> list[Gap]:
    """Declined questions grouped by `gap_key`, most asked first; the newest phrasing names each group."""
    groups: dict[str, list[Question]] = {}
    for question in questions:
        key = gap_key(question.text)
        if key:
            groups.setdefault(key, []).append(question)
    gaps = []
    for key, rows in groups.items():
        newest = max(rows, key=lambda q: (q.created_at, q.id))
        gaps.append(Gap(key=key, question=newest.text.strip(), asked=len(rows),
                        people=len({q.user_id for q in rows if q.user_id is not None}),
                        platforms=tuple(sorted({q.platform for q in rows})),
                        first_asked=min(q.created_at for q in rows), last_asked=newest.created_at))
    return sorted(gaps, key=lambda g: (-g.asked, -g.last_asked.timestamp(), g.key))


def with_current_answers(gaps: Sequence[Gap], ask: AskService) -> list[Gap]:
    """The gaps, each marked with the entry that answers it now (after someone added one), in one batch."""
    if not gaps:
        return []
    answers = ask.answer_many([gap.question for gap in gaps])
    return [replace(gap, answered_by=answer.hit.entry.id if answer.answered and answer.hit else None)
            for gap, answer in zip(gaps, answers, strict=True)]
