"""The command line as a script sees it: JSON shapes, exit statuses, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, SEED, cli

TENSOR_ENTRY = "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray"
ASK_KEYS = {"question", "status", "entry_id", "entry_question", "score", "answer", "related", "docs"}
DOCS = "https://docs.pytorch.org/docs/stable"


def test_ask_json_answers_and_declines_in_input_order(tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("How is a PyTorch tensor different from a numpy array?\n\n  \nHow do I center a div in CSS?\n")
    result = cli("ask", "--json", "--knowledge", str(SEED), "--from-file", str(questions))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and all(set(line) == ASK_KEYS for line in lines)
    assert lines[0]["status"] == "answered" and lines[0]["entry_id"] == TENSOR_ENTRY
    assert lines[1]["status"] == "no_match" and lines[1]["entry_id"] is None
    assert isinstance(lines[0]["score"], float)


def test_ask_with_the_default_knowledge_answers_the_done_when_question(tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("How is a PyTorch tensor different from a numpy array?\nHow do I center a div in CSS?\n"
                         "how do I bake sourdough bread\nwhat even is pytorch? total beginner here\n"
                         "what is the PyTorch equivalent of tf.function\n")
    result = cli("ask", "--json", "--from-file", str(questions))
    assert result.returncode == 0, result.stderr
    tensor, css, bread, beginner, compared = (json.loads(line) for line in result.stdout.splitlines())
    assert tensor["entry_id"] == TENSOR_ENTRY
    # The answer links the documentation its entry cites; a decline links a search of the docs for the question,
    # unless the question is about another technology altogether.
    assert {"title": "torch.from_numpy", "url": f"{DOCS}/generated/torch.from_numpy.html"} in tensor["docs"]
    assert css["status"] == "no_match" and css["docs"] == []
    assert bread["status"] == "no_match"
    assert bread["docs"] == [{"title": "Search the PyTorch documentation",
                              "url": f"{DOCS}/search.html?q=how+do+I+bake+sourdough+bread"}]
    # A broad question that means an entry is answered despite its own words ("total beginner here").
    assert beginner["status"] == "answered" and beginner["entry_question"].startswith("What is PyTorch")
    # Naming both frameworks says which entry is meant: the comparison entry needs only the related threshold.
    assert compared["status"] == "answered"
    assert compared["entry_question"] == "How does PyTorch compare with TensorFlow?"


@pytest.mark.parametrize("args", [
    ("ask",),
    ("ask", "--json", "--from-file", "/nonexistent/questions.txt"),
    ("ask", "--knowledge", "/nonexistent/docs", "what is pytorch"),
    ("no-such-command",),
    ("knowledge", "check", "/nonexistent.md"),
    ("serve", "--port", "not-a-port"),
])
def test_bad_usage_exits_2_with_one_line(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip() and result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_knowledge_check_reports_the_seed() -> None:
    result = cli("knowledge", "check", str(SEED), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["total_entries"] == 3
    assert report["files"] == [{"path": str(SEED), "entries": 3, "warnings": []}]


def test_knowledge_check_shows_the_thresholds_fitted_to_the_files() -> None:
    terse = REPO / "tests" / "knowledge" / "data" / "terse_interview.md"
    report = json.loads(cli("knowledge", "check", str(terse), "--json").stdout)
    calibration = report["calibration"]
    assert calibration["fitted"] and calibration["reason"] == "fitted" and calibration["probes"] == 12
    assert 0.30 <= calibration["answer"] < 0.44 and calibration["related"] < calibration["answer"]
    seed = json.loads(cli("knowledge", "check", str(SEED), "--json").stdout)["calibration"]
    assert not seed["fitted"] and seed["answer"] == 0.44 and "too few entries" in seed["reason"]
    plain = cli("knowledge", "check", str(terse), "--no-calibration", "--json")
    assert "calibration" not in json.loads(plain.stdout)
    assert "thresholds: answer 0." in cli("knowledge", "check", str(terse)).stdout


def test_chat_refuses_an_unmigrated_database_in_one_line() -> None:
    result = cli("chat", "--json", input="/help\n")
    assert result.returncode == 1
    assert "torchtutor migrate" in result.stderr and result.stderr.strip().count("\n") == 0
