"""Retrieval quality on a labelled question file: accuracy, declines and wrong answers per group.

The file is tab-separated with a header `group<TAB>question<TAB>accept`. `accept` is a case-insensitive regular
expression that the matched entry's question must fit; an empty `accept` means the bot must decline.

The set the bot is tuned and checked on is every `*.tsv` in `knowledge/eval/` (`SHIPPED`): `tuning_questions.tsv`
(the thresholds were chosen on it) and `dev_questions.tsv` (written after the tuning, never tuned on), plus any file
added there later.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

COLUMNS = ("group", "question", "accept")
SHIPPED = Path(__file__).resolve().parent / "eval"


class EvalFileError(ValueError):
    """The question file cannot be used; the message names the line."""


@dataclass(frozen=True)
class Case:
    """One labelled question."""

    line: int
    group: str
    question: str
    accept: re.Pattern[str] | None

    @property
    def should_answer(self) -> bool:
        return self.accept is not None


@dataclass(frozen=True)
class Outcome:
    """What the bot did with one labelled question."""

    case: Case
    answered: bool
    entry_id: str | None
    entry_question: str | None
    score: float

    @property
    def correct(self) -> bool:
        if not self.answered:
            return not self.case.should_answer
        return self.case.accept is not None and self.case.accept.search(self.entry_question or "") is not None

    @property
    def verdict(self) -> str:
        """correct | wrong (answered, but not acceptably) | missed (declined a question it should answer)."""
        if self.correct:
            return "correct"
        return "wrong" if self.answered else "missed"


def read_cases(path: str | Path) -> list[Case]:
    """The labelled questions of a file; EvalFileError for anything malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    return parse_cases(text, str(path))


def read_set(path: str | Path) -> list[Case]:
    """The labelled questions of a file, or of every `*.tsv` in a folder (by name), each group then named
    `FILE-STEM/GROUP` so that every file keeps its own figures."""
    path = Path(path)
    if not path.is_dir():
        return read_cases(path)
    files = sorted(path.glob("*.tsv"))
    if not files:
        raise EvalFileError(f"{path}: no *.tsv question files in this folder")
    return [replace(case, group=f"{file.stem}/{case.group}") for file in files for case in read_cases(file)]


def parse_cases(text: str, name: str = "<text>") -> list[Case]:
    """The labelled questions of a file's text; EvalFileError for anything malformed."""
    lines = text.lstrip("\ufeff").splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise EvalFileError(f"{name}: empty file; expected a header {'<TAB>'.join(COLUMNS)}")
    header = [cell.strip().lower() for cell in lines[header_at].split("\t")]
    if header[: len(COLUMNS)] != list(COLUMNS):
        raise EvalFileError(f"{name}: line {header_at + 1}: expected the header {'<TAB>'.join(COLUMNS)}, "
                            f"got {lines[header_at][:80]!r}")
    cases = []
    for number, line in enumerate(lines[header_at + 1 :], start=header_at + 2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) not in (2, 3) and not (len(cells) > 3 and not any(c.strip() for c in cells[3:])):
            raise EvalFileError(f"{name}: line {number}: expected 3 tab-separated columns, got {len(cells)}")
        group, question = cells[0].strip(), cells[1].strip()
        accept = cells[2].strip() if len(cells) > 2 else ""
        if not group or not question:
            raise EvalFileError(f"{name}: line {number}: the group and the question must not be empty")
        try:
            pattern = re.compile(accept, re.IGNORECASE) if accept else None
        except re.error as exc:
            raise EvalFileError(f"{name}: line {number}: bad accept pattern {accept!r} ({exc})") from None
        cases.append(Case(number, group, question, pattern))
    if not cases:
        raise EvalFileError(f"{name}: no questions after the header")
    return cases


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Per group (in file order) and in total: counts, accuracy, and the wrong answers and missed questions."""
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.case.group, []).append(outcome)
    return {"groups": {name: _stats(items, details=True) for name, items in groups.items()},
            "total": _stats(list(outcomes), details=False)}


def _stats(outcomes: list[Outcome], details: bool) -> dict[str, Any]:
    correct = sum(1 for o in outcomes if o.correct)
    stats: dict[str, Any] = {
        "questions": len(outcomes),
        "correct": correct,
        "accuracy": round(correct / len(outcomes), 4) if outcomes else 0.0,
        "answered": sum(1 for o in outcomes if o.answered),
        "declined": sum(1 for o in outcomes if not o.answered),
        "wrong": sum(1 for o in outcomes if o.verdict == "wrong"),
        "missed": sum(1 for o in outcomes if o.verdict == "missed"),
    }
    if details:
        stats["wrong_answers"] = [_detail(o) for o in outcomes if o.verdict == "wrong"]
        stats["missed_questions"] = [_detail(o) for o in outcomes if o.verdict == "missed"]
    return stats


def _detail(outcome: Outcome) -> dict[str, Any]:
    return {"line": outcome.case.line, "question": outcome.case.question, "entry_id": outcome.entry_id,
            "entry_question": outcome.entry_question, "score": round(outcome.score, 4),
            "expected": outcome.case.accept.pattern if outcome.case.accept else None}
