"""How well the free-text grader agrees with labelled answers: the shipped set, its confusion table, the misses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge.grading import Encode, InvalidAnswer
from knowledge.quiz_bank import BankReport
from knowledge.quiz_kinds import grade

LABELS = ("right", "partial", "wrong", "invalid")
KINDS = ("paraphrase", "partial", "negation", "swap", "misconception", "off_topic", "empty")
# Kinds that say something false: grading one of them right is the failure the grader must never make.
FALSE_KINDS = ("negation", "swap", "misconception")


@dataclass(frozen=True)
class LabelledAnswer:
    """One answer to one item, with what a teacher would grade it and why it was written."""

    item: str
    text: str
    label: str
    kind: str


@dataclass(frozen=True)
class Graded:
    """A labelled answer and the grader's verdict on it."""

    case: LabelledAnswer
    verdict: str
    score: float

    @property
    def agrees(self) -> bool:
        return self.verdict == self.case.label


def default_grading_set() -> Path:
    """The labelled set shipped in `knowledge/quizzes/free_text_grading.tsv`."""
    return Path(__file__).resolve().parent / "quizzes" / "free_text_grading.tsv"


def load_grading_set(path: Path) -> list[LabelledAnswer]:
    """The answers of a grading-set file (tab-separated item, label, kind, answer under a header line; `#`
    lines are comments); a malformed line raises ValueError naming it."""
    cases = []
    lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if line.strip() and not line.startswith("#")]
    for number, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected item, label, kind and answer separated by tabs")
        case = LabelledAnswer(fields[0], fields[3], fields[1], fields[2])
        if case.label not in LABELS or case.kind not in KINDS:
            raise ValueError(f"{path}:{number}: bad label {case.label!r} or kind {case.kind!r}")
        cases.append(case)
    return cases


def evaluate(cases: Iterable[LabelledAnswer], bank: BankReport, encode: Encode) -> list[Graded]:
    """Grade every labelled answer with the real grader (a rubric's wordings are encoded once, not per answer)."""
    encode = remembering(encode)
    results = []
    for case in cases:
        item = bank.get(case.item)
        if item is None:
            raise ValueError(f"the grading set names an unknown item {case.item!r}")
        try:
            result = grade(item, case.text, encode)
        except InvalidAnswer:
            results.append(Graded(case, "invalid", 0.0))
            continue
        results.append(Graded(case, result.verdict, result.score))
    return results


def remembering(encode: Encode) -> Encode:
    """`encode` that encodes each distinct text once: vectors are a pure function of the text."""
    known: dict[str, np.ndarray] = {}

    def run(texts: list[str]) -> np.ndarray:
        fresh = [text for text in dict.fromkeys(texts) if text not in known]
        if fresh:
            known.update(zip(fresh, encode(fresh), strict=True))
        return np.stack([known[text] for text in texts])

    return run


def confusion(results: Iterable[Graded]) -> Counter[tuple[str, str]]:
    """(label, verdict) -> how many answers."""
    return Counter((result.case.label, result.verdict) for result in results)


def confusion_table(results: list[Graded]) -> str:
    """The confusion table as markdown: labels down, verdicts across, then the share that agrees."""
    counts = confusion(results)
    lines = ["| labelled \\ graded | " + " | ".join(LABELS) + " | total |",
             "| --- |" + " ---: |" * (len(LABELS) + 1)]
    for label in LABELS:
        row = [counts[(label, verdict)] for verdict in LABELS]
        lines.append(f"| {label} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    agreed = sum(result.agrees for result in results)
    lines.append(f"\n{agreed} of {len(results)} graded as labelled ({agreed / max(1, len(results)):.1%}).")
    return "\n".join(lines)
