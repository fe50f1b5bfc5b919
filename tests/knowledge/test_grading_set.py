"""The free-text grader against the labelled grading set, and the rubric checks one at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from knowledge.grading import PASS_SCORE
from knowledge.grading_eval import (
    FALSE_KINDS,
    Graded,
    LabelledAnswer,
    confusion_table,
    default_grading_set,
    evaluate,
    load_grading_set,
)
from knowledge.quiz_bank import BankReport, QuizItem, default_quiz_paths, load_bank
from knowledge.quiz_kinds import grade

Encode = Callable[[list[str]], np.ndarray]

# Grading ~110 answers encodes a few thousand short texts: seconds alone, minutes on a machine shared by many.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def encode() -> Encode:
    from knowledge.embedder import get_embedder

    embedder = get_embedder()
    embedder.load()
    return embedder.encode


@pytest.fixture(scope="module")
def bank() -> BankReport:
    return load_bank(default_quiz_paths())


@pytest.fixture(scope="module")
def graded(bank: BankReport, encode: Encode) -> list[Graded]:
    return evaluate(load_grading_set(default_grading_set()), bank, encode)


def _item(bank: BankReport, item_id: str) -> QuizItem:
    item = bank.get(item_id)
    assert item is not None, item_id
    return item


def test_the_grading_set_is_large_and_varied() -> None:
    cases = load_grading_set(default_grading_set())
    assert len(cases) >= 80 and len({case.item for case in cases}) >= 20
    kinds = Counter(case.kind for case in cases)
    for kind in ("paraphrase", "partial", "negation", "swap", "off_topic", "empty"):
        assert kinds[kind] >= 1, kind
    assert kinds["negation"] >= 15 and kinds["swap"] >= 6


def test_the_grader_agrees_with_the_labels(graded: list[Graded]) -> None:
    table = confusion_table(graded)
    print("\n" + table)
    misses = [(g.case.item, g.case.label, g.verdict, g.case.text) for g in graded if not g.agrees]
    assert sum(g.agrees for g in graded) >= 0.9 * len(graded), misses


def test_no_negated_swapped_or_mistaken_answer_is_accepted(graded: list[Graded]) -> None:
    accepted = [(g.case.item, g.case.text) for g in graded if g.case.kind in FALSE_KINDS and g.verdict == "right"]
    assert accepted == []


def test_a_grading_set_naming_an_unknown_item_is_refused(tmp_path: Path, bank: BankReport, encode: Encode) -> None:
    with pytest.raises(ValueError, match="unknown item"):
        evaluate([LabelledAnswer("no-such-item", "text", "right", "paraphrase")], bank, encode)
    bad = tmp_path / "bad.tsv"
    bad.write_text("# a comment\nitem\tlabel\tkind\tanswer\nx\tgreat\tparaphrase\thi\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv:3: bad label 'great'"):
        load_grading_set(bad)
    bad.write_text("item\tlabel\tkind\tanswer\nx\tright\n", encoding="utf-8")
    with pytest.raises(ValueError, match="separated by tabs"):
        load_grading_set(bad)


# --- the rubric, check by check -------------------------------------------------------------------------------


def test_a_negated_answer_is_wrong_and_told_so(bank: BankReport, encode: Encode) -> None:
    item = _item(bank, "dynamic-graph-define")
    right = grade(item, "It is built on the fly as the code runs, with a new graph for every input.", encode)
    negated = grade(item, "It is not built on the fly as the code runs, and there is no new graph for every input.",
                    encode)
    assert right.correct and right.verdict == "right"
    assert not negated.correct and negated.verdict == "wrong" and negated.score <= 0.3
    assert "your answer says the opposite" in negated.feedback and "❌" in negated.feedback


def test_swapped_roles_are_caught_and_named(bank: BankReport, encode: Encode) -> None:
    item = _item(bank, "dynamic-vs-static-graph")
    right = grade(item, "A static graph is compiled ahead of time, while a dynamic graph is built on the fly and "
                        "changes with each input.", encode)
    swapped = grade(item, "A dynamic graph is compiled ahead of time, while a static graph is built on the fly and "
                          "changes with each input.", encode)
    assert right.correct
    assert not swapped.correct and swapped.verdict == "wrong"
    assert "that is true of static graph, not of dynamic graph" in swapped.feedback
    assert set(swapped.contradictions) == {point.text for point in item.key_points}


def test_a_contrast_said_of_the_other_side_still_counts(bank: BankReport, encode: Encode) -> None:
    item = _item(bank, "tensor-vs-ndarray-two-differences")
    result = grade(item, "NumPy arrays can't run on a GPU and can't track gradients, but tensors can.", encode)
    assert result.correct, result


def test_a_misconception_makes_an_answer_wrong_and_says_why(bank: BankReport, encode: Encode) -> None:
    item = _item(bank, "eval-what-changes")
    result = grade(item, "Dropout is turned off, batch norm uses running statistics, and it turns off gradient "
                         "tracking too.", encode)
    assert not result.correct and result.contradictions == ("it turns off gradient tracking",)
    assert "use torch.no_grad() to stop tracking" in result.feedback


def test_a_partial_answer_gets_partial_credit_and_a_hint_naming_the_missing_point(
        bank: BankReport, encode: Encode) -> None:
    item = _item(bank, "collate-fn-explain")
    result = grade(item, "You pad the samples with pad_sequence so they fit in one tensor.", encode)
    assert result.verdict == "partial" and not result.correct
    assert 0.3 <= result.score < PASS_SCORE
    assert result.missing_points == ("samples have different shapes", "return the lengths or a mask")
    assert "🟡 **Partly there**" in result.feedback and "- return the lengths or a mask" in result.feedback


def test_the_rubric_format_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "q.yaml"
    path.write_text("""
items:
  - id: bad-role
    entry: e
    topic: t
    kind: free_text
    prompt: How do A and B differ?
    reference: A is fast, B is slow.
    key_points:
      - {point: fast, about: c}
      - {point: slow, about: b}
    roles: {a: [alpha], b: [beta]}
  - id: bad-misconception
    entry: e
    topic: t
    kind: free_text
    prompt: How do A and B differ?
    reference: A is fast, B is slow.
    key_points: [fast, slow]
    misconceptions: [{point: the same}]
""", encoding="utf-8")
    report = load_bank([path])
    messages = [str(w) for w in report.warnings]
    assert report.items == ()
    assert any("'c', which is not one of the item's roles" in m for m in messages)
    assert any("misconception 1 must have 'point' and 'why'" in m for m in messages)
