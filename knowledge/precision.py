"""Precision where names are named: the API names a question types, and which entries are about them.

Similarity ranks "what does `torch.stack` do" close to any entry about joining or reshaping tensors; the name
itself says which one the person means. So a question's API names (dotted names, calls, snake_case and
CamelCase identifiers) re-rank the nearest entries: one whose question, phrasings or tags name them is *about*
them and wins over a neighbour that scored a little higher; an entry that does not even mention them in its
answer is a weaker match, since the person asked about something it does not cover.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from knowledge.entries import Entry
from knowledge.index import Hit

# How far below the best entry an entry that is about the named API may score and still win.
RERANK_MARGIN = 0.10
# Taken off the score of an entry that names none of the question's APIs anywhere.
UNNAMED_PENALTY = 0.05
# An entry that writes less than this share of the question's words (IDF-weighted) loses up to
# UNCOVERED_PENALTY x (COVERAGE_FLOOR - share) / COVERAGE_FLOOR: "YOLO loss" is not answered by the NaN-loss entry.
COVERAGE_FLOOR = 0.6
UNCOVERED_PENALTY = 0.15
# ...unless the meaning matches so closely that the words do not matter: the penalty fades out as the dense
# (MiniLM cosine) score rises from the first to the second value. "what even is pytorch? total beginner here"
# writes none of the "What is PyTorch" entry's words but one, and means exactly that entry (cosine 0.86).
SURE_DENSE = (0.60, 0.75)

_DOTTED = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?")
_CALL = re.compile(r"(?<![\w.])[A-Za-z_]\w*\(\)")
_SNAKE = re.compile(r"(?<![\w.])_*[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+_?(?![\w.])")
_CAMEL = re.compile(r"(?<![\w.])(?:[A-Z]+[a-z0-9]+[A-Z]\w*|[a-z]+[A-Z]\w*|[A-Z]{2,}[a-z]{2,}\w*)(?![\w.])")
# Names that say nothing about which entry is meant: the library and its neighbours, exception classes, files.
_GENERIC = re.compile(r"^(?:py_?torch|numpy|\w+(?:error|exception|warning)|e\.g|i\.e|etc|\w+\.(?:py|pt|pth|csv|txt|"
                      r"json|yaml|md|png|jpg|com|org|io))$", re.IGNORECASE)
_PASTED_ERROR = re.compile(r"\b\w+(?:Error|Exception|Warning)\b\s*:|Traceback \(most recent call last\)")


def named_apis(question: str) -> tuple[str, ...]:
    """The API names a question types, lower-cased, without call parentheses, each once, in order."""
    found: dict[str, None] = {}
    for pattern in (_DOTTED, _CALL, _SNAKE, _CAMEL):
        for match in pattern.finditer(question):
            name = match.group(0).removesuffix("()").lower()
            if not _GENERIC.match(name):
                found.setdefault(name, None)
    return tuple(found)


def is_pasted_error(question: str) -> bool:
    """Whether the question is (or holds) a pasted error message or traceback."""
    return _PASTED_ERROR.search(question) is not None


def _forms(name: str) -> list[str]:
    """The ways a text may write a name: whole; for dotted names also the tail after the first part, and the
    last part after a dot (`x.view` is written `.view(`); the last part alone when it is an identifier that no
    English word is (`scaled_dot_product_attention`, `BCEWithLogitsLoss`)."""
    forms = [name]
    parts = name.split(".")
    if len(parts) > 1:
        forms.append(".".join(parts[1:]))
        forms.append("." + parts[-1])
        if "_" in parts[-1].strip("_") or len(parts[-1]) >= 8:
            forms.append(parts[-1])
    return list(dict.fromkeys(forms))


def _names_in(text: str, names: Sequence[str]) -> int:
    """How many of the names a text writes in one of their forms."""
    lowered = text.lower()
    return sum(1 for name in names if any(_written(form, lowered) for form in _forms(name)))


def _written(form: str, lowered: str) -> bool:
    before = "" if form.startswith(".") else r"(?<!\w)"
    return re.search(rf"{before}{re.escape(form)}(?!\w)", lowered) is not None


def about(entry: Entry, names: Sequence[str]) -> int:
    """How many of the names the entry is about: written in its question, phrasings or tags."""
    return _names_in(" \n".join([*entry.texts(), *entry.tags]), names) if names else 0


def mentions(entry: Entry, names: Sequence[str]) -> bool:
    """Whether the entry writes any of the names anywhere, answer and code included."""
    return bool(names) and (about(entry, names) > 0 or _names_in(entry.answer, names) > 0)


def prefer_named(hits: Sequence[Hit], names: Sequence[str], margin: float | None = None) -> list[Hit]:
    """The hits with the entry most about the named APIs first, among those within `margin` of the best; when no
    close entry is about them, one that at least writes them (in its answer or code) first, among those within
    `UNNAMED_PENALTY`, the score an entry that never writes them loses anyway."""
    if not hits or not names:
        return list(hits)
    margin = RERANK_MARGIN if margin is None else margin
    best = hits[0]
    close = [(about(hit.entry, names), -i) for i, hit in enumerate(hits) if hit.score >= best.score - margin]
    count, position = max(close)
    if count == 0:
        writers = [i for i, hit in enumerate(hits) if hit.score >= best.score - UNNAMED_PENALTY
                   and mentions(hit.entry, names)]
        position = -writers[0] if writers else 0
    if position == 0:
        return list(hits)
    winner = hits[-position]
    return [winner, *[hit for hit in hits if hit is not winner]]


def discounted(hit: Hit, names: Sequence[str], question: str, penalty: float | None = None) -> Hit:
    """The hit with its score lowered when the question names APIs that its entry never writes (pasted error
    messages excepted: they name internals, such as `LogSoftmaxBackward0`, that no entry needs to)."""
    if not names or is_pasted_error(question) or mentions(hit.entry, names):
        return hit
    return replace(hit, score=hit.score - (UNNAMED_PENALTY if penalty is None else penalty))


def uncovered(hit: Hit, share: float, question: str = "") -> Hit:
    """The hit with its score lowered when its entry writes too little of the question (`share`, 0..1), the less
    the closer its meaning (`SURE_DENSE`); pasted error messages are spared, since their paths, shapes and
    internals are words no entry needs to write."""
    if share >= COVERAGE_FLOOR or is_pasted_error(question):
        return hit
    low, high = SURE_DENSE
    doubt = min(1.0, max(0.0, (high - hit.dense) / (high - low)))
    return replace(hit, score=hit.score - doubt * UNCOVERED_PENALTY * (COVERAGE_FLOOR - share) / COVERAGE_FLOOR)
