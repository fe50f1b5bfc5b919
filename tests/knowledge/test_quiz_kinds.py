"""Quiz kinds are objects registered by name: an item is read, shown and graded by its own kind, a kind nobody
registered is an error rather than free-text grading, and a new kind is one class added to the registry."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knowledge.grading import Grade, InvalidAnswer
from knowledge.quiz_bank import QuizItem, load_bank
from knowledge.quiz_fields import InvalidItem, text_field
from knowledge.quiz_kinds import KINDS, Option, UnknownKind, grade, kind_of


def no_encoder(texts: list[str]) -> np.ndarray:
    raise AssertionError("a button kind never encodes")


def test_an_item_of_an_unregistered_kind_is_not_graded_as_free_text() -> None:
    item = QuizItem(id="odd", entry="e", topic="t", kind="essay", prompt="Discuss.", reference="Anything.")
    with pytest.raises(UnknownKind, match="unknown kind 'essay'"):
        grade(item, "Anything.", no_encoder)


def test_the_registry_holds_the_three_kinds() -> None:
    assert list(KINDS) == ["choice", "true_false", "free_text"]
    assert [kind.typed for kind in KINDS.values()] == [False, False, True]


class Number:
    """A kind written from the protocol alone: a whole number to type or pick."""

    name = "number"
    fields = frozenset({"answer", "explanation"})
    optional: frozenset[str] = frozenset()
    listed = False
    instruction = "Reply with a number."
    typed = False

    def read(self, base: QuizItem, raw: dict[str, Any]) -> QuizItem:
        if not isinstance(raw["answer"], int):
            raise InvalidItem("'answer' must be a whole number")
        return replace(base, reference=str(raw["answer"]), explanation=text_field(raw, "explanation"))

    def options(self, item: QuizItem) -> tuple[Option, ...]:
        return tuple(Option(str(n), str(n)) for n in range(1, 5))

    def grade(self, item: QuizItem, answer: str, encode: Any) -> Grade:
        if not answer.strip().isdigit():
            raise InvalidAnswer("reply with a number")
        right = answer.strip() == item.reference
        return Grade(right, float(right), f"It's {item.reference}. {item.explanation}")

    def said(self, item: QuizItem, answer: str) -> str:
        return answer

    def explain(self, item: QuizItem) -> str:
        return f"The answer: **{item.reference}**"


def test_a_new_kind_is_one_registered_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KINDS, "number", Number())
    path = tmp_path / "numbers.yaml"
    path.write_text(textwrap.dedent("""
        topic: tensors
        items:
          - {id: dims, entry: e, kind: number, prompt: "How many dimensions has a matrix?", answer: 2,
             explanation: Rows and columns.}
          - {id: typo, entry: e, kind: number, prompt: "How many?", answer: 2, explanation: Two., choices: []}
        """), encoding="utf-8")
    report = load_bank([path])
    [item] = report.items
    assert [str(w) for w in report.warnings] == [f"{path} item #2 (typo): fields not used by kind 'number': choices"]
    assert kind_of(item).explain(item) == "The answer: **2**"
    assert grade(item, "2", no_encoder).correct and not grade(item, "3", no_encoder).correct
