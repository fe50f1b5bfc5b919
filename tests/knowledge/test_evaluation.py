"""Reading labelled question files and scoring outcomes per group."""

from __future__ import annotations

import re

import pytest

from knowledge.evaluation import Case, EvalFileError, Outcome, parse_cases, read_cases, summarise
from tests.conftest import SHARED


def test_the_shared_dev_file_parses() -> None:
    path = SHARED / "eval" / "dev_questions.tsv"
    if not path.exists():
        pytest.skip("../shared/eval/dev_questions.tsv is not here")
    cases = read_cases(path)
    assert len(cases) >= 40 and {c.group for c in cases} >= {"seed", "pytorch", "off"}
    assert all(c.accept is None for c in cases if c.group == "off")


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("question\tgroup\taccept\nseed\tq\t\n", "expected the header"),
    ("group\tquestion\taccept\n", "no questions"),
    ("group\tquestion\taccept\nseed\n", "line 2: expected 3"),
    ("group\tquestion\taccept\nseed\t\tx\n", "line 2: the group and the question"),
    ("group\tquestion\taccept\nseed\tq\t(unclosed\n", "line 2: bad accept pattern"),
    ("group\tquestion\taccept\nseed\tq\tx\tsurplus\n", "line 2: expected 3"),
])
def test_malformed_files_are_rejected_with_the_line(text: str, message: str) -> None:
    with pytest.raises(EvalFileError, match=re.escape(message)):
        parse_cases(text)


def test_missing_trailing_tab_and_blank_lines_are_tolerated() -> None:
    cases = parse_cases("\ufeffgroup\tquestion\taccept\n\noff\tpizza?\nseed\twhat is x\tX|y\n")
    assert [(c.line, c.group, c.should_answer) for c in cases] == [(3, "off", False), (4, "seed", True)]


def test_outcomes_are_scored_per_group() -> None:
    accept = re.compile("tensor", re.IGNORECASE)
    outcomes = [
        Outcome(Case(2, "a", "q1", accept), True, "e1", "What is a Tensor?", 0.8),   # correct
        Outcome(Case(3, "a", "q2", accept), True, "e2", "What is autograd?", 0.6),   # wrong
        Outcome(Case(4, "a", "q3", accept), False, "e1", "What is a Tensor?", 0.3),  # missed
        Outcome(Case(5, "b", "q4", None), False, None, None, 0.1),                   # correct decline
        Outcome(Case(6, "b", "q5", None), True, "e1", "What is a Tensor?", 0.7),     # wrong: should decline
    ]
    report = summarise(outcomes)
    a, b = report["groups"]["a"], report["groups"]["b"]
    assert (a["questions"], a["correct"], a["wrong"], a["missed"], a["declined"]) == (3, 1, 1, 1, 1)
    assert a["accuracy"] == pytest.approx(0.3333, abs=1e-4)
    assert [w["question"] for w in a["wrong_answers"]] == ["q2"] and a["wrong_answers"][0]["expected"] == "tensor"
    assert [m["question"] for m in a["missed_questions"]] == ["q3"]
    assert (b["correct"], b["wrong"]) == (1, 1) and b["wrong_answers"][0]["expected"] is None
    assert report["total"] == {"questions": 5, "correct": 2, "accuracy": 0.4, "answered": 3, "declined": 2,
                               "wrong": 2, "missed": 1}
