"""`torchtutor eval`, `knowledge add|edit|delete|history|list` and `gaps` as a script sees them; a served bot
picks up an entry added from the command line without a restart."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from knowledge.evaluation import SHIPPED, read_cases
from tests.conftest import SEED, cli
from tests.helpers import served, wait_until

DEV_SHAPED = """group\tquestion\taccept
seed\tHow is a PyTorch tensor different from a numpy array?\tnumpy|ndarray
seed\twhat is a dynamic computation graph\tdynamic|graph
pytorch\twhen should I call optimizer.zero_grad\tzero_grad
off\tbest pizza dough recipe\t
off\tWhat does TensorFlow's tf.function decorator do?\t
"""


def test_eval_prints_accuracy_declines_and_wrong_answers_per_group(tmp_path: Path) -> None:
    questions = tmp_path / "questions.tsv"
    questions.write_text(DEV_SHAPED)
    result = cli("eval", str(questions), "--json", "--knowledge", str(SEED))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"file", "entries", "threshold", "groups", "total"}
    assert list(report["groups"]) == ["seed", "pytorch", "off"] and report["entries"] == 3
    seed, pytorch, off = (report["groups"][g] for g in ("seed", "pytorch", "off"))
    assert (seed["questions"], seed["correct"], seed["accuracy"]) == (2, 2, 1.0)
    assert (pytorch["missed"], pytorch["missed_questions"][0]["expected"]) == (1, "zero_grad")
    assert (off["declined"], off["wrong"], off["wrong_answers"]) == (2, 0, [])
    assert report["total"]["questions"] == 5 and report["total"]["correct"] == 4
    human = cli("eval", str(questions), "--knowledge", str(SEED))
    assert human.returncode == 0 and "accuracy" in human.stdout and "declined, but should have answered" in human.stdout


def test_eval_without_a_file_runs_every_file_of_the_shipped_set() -> None:
    result = cli("eval", "--json", "--knowledge", str(SEED))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["file"] == str(SHIPPED)
    files = {path.stem: len(read_cases(path)) for path in SHIPPED.glob("*.tsv")}
    per_file: dict[str, int] = {}
    for group, stats in report["groups"].items():
        stem = group.split("/")[0]
        per_file[stem] = per_file.get(stem, 0) + stats["questions"]
    assert per_file == files and {"dev_questions", "tuning_questions"} <= set(files)
    assert report["total"]["questions"] == sum(files.values())


def test_eval_refuses_a_malformed_file_with_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("group\tquestion\taccept\nseed\twhat is x\t(unclosed\n")
    for args in ((str(bad),), (str(tmp_path / "missing.tsv"),), (str(tmp_path),)):
        result = cli("eval", *args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_admin_commands_and_a_served_bot_that_follows_them(migrated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"TORCHTUTOR_DATABASE_URL": migrated.database_url, "TORCHTUTOR_KNOWLEDGE_POLL_SECONDS": "0.5"}
    question = {"question": "how do I decode sequences with beam search"}  # in no knowledge pack
    answer_file = tmp_path / "answer.md"
    answer_file.write_text("Keep the best `k` partial sequences at each step: `scores.topk(k, dim=-1)`.\n")
    with served(env=env) as url:
        first = httpx.post(f"{url}/api/v1/ask", json=question, timeout=30)
        assert first.json()["status"] == "no_match"
        assert 'desc="computed"' in first.headers["server-timing"]
        again = httpx.post(f"{url}/api/v1/ask", json=question, timeout=30)
        assert 'desc="cache hit"' in again.headers["server-timing"] and "app;dur=" in again.headers["server-timing"]

        added = cli("knowledge", "add", "--question", "How do I decode sequences with beam search?",
                    "--answer-file", str(answer_file), "--alias", "beam search decoding", "--tag", "decoding",
                    "--by", "alice", "--json", env=env)
        assert added.returncode == 0, added.stderr
        entry = json.loads(added.stdout)
        assert (entry["version"], entry["changed_by"]) == (1, "alice")

        def answered() -> bool:
            body = httpx.post(f"{url}/api/v1/ask", json=question, timeout=30).json()
            return body["status"] == "answered" and body["entry_id"] == entry["entry_id"]

        wait_until(answered, timeout=30, interval=0.5, what="the served bot to pick up the new entry")

    edited = cli("knowledge", "edit", entry["entry_id"], "--answer", "Use topk.", "--by", "bob", env=env)
    assert edited.returncode == 0 and "version 2, by bob" in edited.stdout
    assert cli("knowledge", "delete", entry["entry_id"], "--by", "carol", env=env).returncode == 0
    history = json.loads(cli("knowledge", "history", entry["entry_id"], "--json", env=env).stdout)
    assert [(v["version"], v["changed_by"], v["deleted"]) for v in history] == [
        (3, "carol", True), (2, "bob", False), (1, "alice", False)]
    listing = json.loads(cli("knowledge", "list", "--deleted", "--json", env=env).stdout)
    assert any(e["entry_id"] == entry["entry_id"] and e["deleted"] for e in listing)
    missing = cli("knowledge", "edit", "no-such-entry", "--answer", "x", "--by", "a", env=env)
    assert missing.returncode == 2 and "no-such-entry" in missing.stderr

    gaps = cli("gaps", "--json", env=env)
    assert gaps.returncode == 0, gaps.stderr
    report = json.loads(gaps.stdout)
    assert report["since_days"] is None and isinstance(report["gaps"], list)
    assert any("beam search" in g["question"] for g in report["gaps"])  # declined before the entry, deleted since


def test_admin_commands_need_a_migrated_database() -> None:
    result = cli("knowledge", "list")
    assert result.returncode == 1 and "torchtutor migrate" in result.stderr
