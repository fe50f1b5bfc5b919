"""Reading labelled question files and scoring outcomes per group."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.evaluation import SHIPPED, Case, EvalFileError, Outcome, parse_cases, read_cases, read_set, summarise

HEADER = "group\tquestion\taccept\n"


def test_the_shipped_set_is_in_the_repository_and_parses() -> None:
    assert {"tuning_questions.tsv", "dev_questions.tsv"} <= {p.name for p in SHIPPED.glob("*.tsv")}
    dev = read_cases(SHIPPED / "dev_questions.tsv")
    assert len(dev) >= 40 and {c.group for c in dev} >= {"seed", "pytorch", "off"}
    assert all(c.accept is None for c in dev if c.group == "off")
    assert all(c.accept is not None for c in dev if c.group != "off")
    tuning = {c.question.lower() for c in read_cases(SHIPPED / "tuning_questions.tsv")}
    assert not [c.question for c in dev if c.question.lower() in tuning], "the dev file repeats tuning questions"


def test_a_folder_is_every_tsv_in_it_by_name_with_groups_named_after_their_file(tmp_path: Path) -> None:
    (tmp_path / "b_later.tsv").write_text(HEADER + "off\tpizza?\t\n")
    (tmp_path / "a_first.tsv").write_text(HEADER + "seed\twhat is x\tX\noff\tsoup?\n")
    (tmp_path / "notes.txt").write_text("not a question file")
    cases = read_set(tmp_path)
    assert [(c.group, c.question, c.line) for c in cases] == [
        ("a_first/seed", "what is x", 2), ("a_first/off", "soup?", 3), ("b_later/off", "pizza?", 2)]
    assert list(summarise([Outcome(c, False, None, None, 0.0) for c in cases])["groups"]) == [
        "a_first/seed", "a_first/off", "b_later/off"]
    assert [c.group for c in read_set(tmp_path / "b_later.tsv")] == ["off"], "a single file keeps its group names"


def test_a_folder_without_question_files_or_with_a_bad_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EvalFileError, match="no \\*.tsv question files"):
        read_set(tmp_path)
    (tmp_path / "bad.tsv").write_text(HEADER + "seed\tq\t(unclosed\n")
    with pytest.raises(EvalFileError, match=r"bad.tsv: line 2: bad accept pattern"):
        read_set(tmp_path)


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
