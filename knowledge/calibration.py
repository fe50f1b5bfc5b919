"""Answer and related thresholds fitted to the knowledge that is loaded, from its own score distributions.

One fixed threshold cannot suit every knowledge base: entries with several phrasings and long answers score
higher for a question they answer than terse interview-style entries do, while an off-topic question scores
about the same against either. So each index is measured on two kinds of probe:

- negatives: sentinel questions no PyTorch knowledge base should answer (`calibration_sentinels.txt`: other
  tools, other libraries with their names left out, everyday questions); their best scores show how high noise
  reaches in this knowledge base;
- positives: each entry's question and phrasings cut to their keywords, the way people type them ("create
  tensor random values"); the score of their own entry shows how well a real question about it can score.

The answer threshold sits a fixed share (`ALPHA`) of the way from the negatives' 90th percentile to the
positives' 10th percentile, within `BOUNDS`. A knowledge base too small to measure, or whose positives do not
clear its negatives, gets the constants tuned on the pack (`FALLBACK`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.cache import EmbeddingCache
from knowledge.entries import Entry
from knowledge.index import Encoder, KnowledgeIndex

SENTINELS_FILE = Path(__file__).with_name("calibration_sentinels.txt")
ANSWER_THRESHOLD = 0.44
RELATED_GAP = 0.04
# Share of the way from noise (negatives) to keyword paraphrases (positives); tuned on knowledge/eval/dev_wild.tsv
# (the pack) and knowledge/eval/thirdparty_questions.tsv (a 210-entry third-party Q&A knowledge base) together.
ALPHA = 0.35
BOUNDS = (0.30, 0.60)
NEGATIVE_QUANTILE = 0.90
POSITIVE_QUANTILE = 0.10
MIN_ENTRIES = 5
_PHRASINGS_PER_ENTRY = 3
_PROBE_WORDS = 8
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.()\[\]'-]*")
# Words that carry no topic: question templates and the library's own name.
_FILLER = frozenset(
    """
    a an the and or of to for in on with from by as at is are be can could should would will do does did done
    how what why when which where who whom whose you your i me my we our it its this that these those there
    write function implement use using make way get some any one about into explain mean means meaning
    pytorch torch py
    """.split()
)


@dataclass(frozen=True)
class Calibration:
    """The thresholds in use for one index, and how they were found."""

    answer: float
    related: float
    fitted: bool
    reason: str
    # A declined question whose nearest entry scores below this (what off-topic questions reach) is offered
    # no entries; above it, the three nearest.
    suggest: float = 0.34
    negatives: float | None = None
    positives: float | None = None
    sentinels: int = 0
    probes: int = 0

    def to_json(self) -> dict[str, Any]:
        """The calibration as shown by `knowledge check --json` and the dashboard."""
        data = asdict(self)
        for key in ("answer", "related", "suggest", "negatives", "positives"):
            if data[key] is not None:
                data[key] = round(float(data[key]), 4)
        return data


FALLBACK = Calibration(ANSWER_THRESHOLD, ANSWER_THRESHOLD - RELATED_GAP, False, "not fitted")


def fixed(answer: float | None, related: float | None = None) -> Calibration:
    """Thresholds set by the operator, used as they are (related: `RELATED_GAP` below answer when not given)."""
    answer = FALLBACK.answer if answer is None else answer
    related = answer - RELATED_GAP if related is None else related
    return Calibration(answer, related, False, "set in the configuration", suggest=min(FALLBACK.suggest, related))


@functools.cache
def sentinels() -> tuple[str, ...]:
    """The sentinel questions, one per non-comment line of the sentinels file."""
    lines = SENTINELS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def keyword_probe(text: str) -> str:
    """A phrasing cut to its first keywords, without question words, templates or the library's name."""
    words = [word.strip("`'\".,?!:;()") for word in _WORD.findall(text)]
    kept = [word for word in words if word and word.lower() not in _FILLER]
    return " ".join(kept[:_PROBE_WORDS]) or text


def probes(entries: list[Entry]) -> tuple[list[str], list[int]]:
    """Keyword probes of each entry's question and first phrasings, and the entry (row) each stands for."""
    texts: list[str] = []
    rows: list[int] = []
    for row, entry in enumerate(entries):
        for text in dict.fromkeys(keyword_probe(t) for t in entry.texts()[:_PHRASINGS_PER_ENTRY]):
            texts.append(text)
            rows.append(row)
    return texts, rows


def calibrate(index: KnowledgeIndex, encoder: Encoder, cache: EmbeddingCache | None = None) -> Calibration:
    """Thresholds fitted to this index, or FALLBACK (with the reason) when it cannot be measured."""
    if len(index) < MIN_ENTRIES:
        return _fallback(f"too few entries to fit ({len(index)} < {MIN_ENTRIES})")
    probe_texts, rows = probes(index.entries)
    questions = [*sentinels(), *probe_texts]
    vectors = cache.encode(questions, encoder) if cache else encoder.encode(questions)
    count = len(sentinels())
    negatives = np.array([index.scores(vector, text)[0].max() for text, vector in
                          zip(questions[:count], vectors[:count], strict=True)])
    positives = np.array([index.scores(vector, text)[0][row] for text, vector, row in
                          zip(probe_texts, vectors[count:], rows, strict=True)])
    return fit(negatives, positives)


def fit(negatives: np.ndarray, positives: np.ndarray) -> Calibration:
    """Thresholds from the sentinels' best scores (negatives) and the probes' own-entry scores (positives)."""
    if len(negatives) == 0 or len(positives) == 0:
        return _fallback("nothing to measure")
    noise = float(np.quantile(negatives, NEGATIVE_QUANTILE))
    signal = float(np.quantile(positives, POSITIVE_QUANTILE))
    measured = Calibration(FALLBACK.answer, FALLBACK.related, False,
                           "the entries' own phrasings do not score above off-topic questions",
                           negatives=noise, positives=signal, sentinels=len(negatives), probes=len(positives))
    if signal <= noise:
        return measured
    answer = float(np.clip(noise + ALPHA * (signal - noise), *BOUNDS))
    related = answer - RELATED_GAP
    return replace(measured, answer=answer, related=related, fitted=True, reason="fitted",
                   suggest=min(noise, related))


def _fallback(reason: str) -> Calibration:
    return Calibration(FALLBACK.answer, FALLBACK.related, False, reason)
