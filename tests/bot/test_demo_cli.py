"""`torchtutor demo list|run`, `torchtutor worker`, and `/demo` in `torchtutor chat --json`, as a user runs them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bot import runtime as runtime_module
from bot.cli import demo_cmd
from bot.cli.main import main
from bot.cli.parser import UsageError
from tests.conftest import cli
from tests.jobs_support import ThreadBackend, sample_demos_registered
from workers.demos import list_demos

RESULT_KEYS = {"event", "job_id", "status", "device", "text", "code", "images", "metrics", "error"}
CHAT_KEYS = {"message_id", "edit", "text", "buttons", "images", "ephemeral"}


def test_demo_list_json_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli("demo", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [demo.describe() for demo in list_demos()]
    demo_cmd.list_demos(argparse.Namespace(json=False))
    human = capsys.readouterr().out
    assert "backward-pass: What backward() computes" in human and "parameters: x=1.0,2.0,3.0" in human


def test_demo_run_json_prints_progress_then_exactly_one_result(migrated) -> None:  # type: ignore[no-untyped-def]
    result = cli("demo", "run", "train-tiny", "--param", "steps=30", "--param", "seed=2", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["event"] for line in lines].count("result") == 1 and lines[-1]["event"] == "result"
    progress = lines[:-1]
    assert all(set(p) - {"position"} == {"event", "job_id", "progress", "stage"} and p["event"] == "progress"
               for p in progress)
    assert all(p["stage"] == "queued" and p["position"] >= 1 for p in progress if "position" in p)
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress)
    final = lines[-1]
    assert set(final) == RESULT_KEYS and final["status"] == "succeeded" and final["error"] is None
    assert final["metrics"]["seed"] == 2 and "def train_mlp" in final["code"] and final["device"] == "cpu"
    [image] = final["images"]
    assert Path(image).is_absolute() and Path(image).read_bytes().startswith(b"\x89PNG")


def test_demo_run_of_a_failing_demo_prints_the_reason_and_exits_1(migrated, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(runtime_module, "make_backend",
                        lambda settings, database, journal=None: ThreadBackend(database))
    with sample_demos_registered():
        status = main(["demo", "run", "test-boom", "--json"])
    assert status == 1
    final = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert set(final) == RESULT_KEYS and final["status"] == "failed"
    assert final["error"] == "the demo raised ValueError: boom"


def test_demo_run_refuses_bad_input_with_one_line_and_status_2(migrated) -> None:  # type: ignore[no-untyped-def]
    result = cli("demo", "run", "backward-pass", "--param", "x=1,500", "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "torchtutor: backward-pass: parameter 'x': item 2: must be between -100 and 100, got " \
                            "500\n"


@pytest.mark.parametrize(("argv", "status", "message"), [
    (["demo", "run", "warp-drive"], 2, "I don't know a demo called `warp-drive`."),
    (["demo", "run", "backward-pass", "--param", "x"], 2, "--param expects KEY=VALUE, got 'x'"),
    (["worker", "--queues", "gpu,tpu"], 2, "--queues takes a comma-separated subset of gpu,cpu, got 'gpu,tpu'"),
])
def test_more_bad_input_in_one_line(migrated, capsys, argv: list[str], status: int, message: str) -> None:  # type: ignore[no-untyped-def]
    assert main(argv) == status
    err = capsys.readouterr().err
    assert err.startswith(f"torchtutor: {message}") and err.count("\n") == 1


def test_demo_run_on_an_unmigrated_database_says_so(settings, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["demo", "run", "backward-pass"]) == 1
    assert "run `torchtutor migrate` first" in capsys.readouterr().err


def test_params_must_be_key_value_pairs_given_once() -> None:
    assert demo_cmd.parse_params(["x=1,2", "pinned=false", "note=a=b"]) == {"x": "1,2", "pinned": "false",
                                                                             "note": "a=b"}
    with pytest.raises(UsageError, match="--param x is given twice"):
        demo_cmd.parse_params(["x=1", "x=2"])


def test_chat_demo_message_is_edited_until_its_result(migrated) -> None:  # type: ignore[no-untyped-def]
    script = "/demo\n/demo backward-pass x=1,2\n/demo train-tiny steps=30\n/demo backward-pass x=1000\n"
    result = cli("chat", "--json", "--user", "alice", input=script)
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(m) == CHAT_KEYS for m in messages)
    catalogue = messages[0]
    assert any(b["id"] == "demo:run:backward-pass" for b in catalogue["buttons"])
    refusal = next(m for m in messages if "must be between -100 and 100" in m["text"])
    assert refusal["ephemeral"] and not refusal["edit"]
    for title in ("What backward() computes", "Train a tiny network"):
        first = next(m for m in messages if m["text"].startswith(f"**{title}**") and not m["edit"])
        assert first["buttons"][0]["id"].startswith("job:cancel:") and "Queued" in first["text"]
        edits = [m for m in messages if m["edit"] and m["message_id"] == first["message_id"]]
        assert edits, f"no edits of {title}"
        final = edits[-1]
        assert final["buttons"] == [] and "```python" in final["text"] and "**Device:** cpu" in final["text"]
    train_final = [m for m in messages if m["edit"] and "Train a tiny MLP" in m["text"]][-1]
    [image] = train_final["images"]
    assert Path(image).read_bytes().startswith(b"\x89PNG")
