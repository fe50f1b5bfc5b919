"""Quizzes as a script sees them: `chat --json` end to end, `study tick`, and quiz files in `knowledge check`."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from knowledge.loader import load_entries
from tests.bot.quiz_fixtures import QuizEnv, cache_fixture, env_fixture  # noqa: F401
from tests.conftest import REPO, cli

CHAT_KEYS = {"message_id", "edit", "text", "buttons", "images", "ephemeral"}
QUIZZES = REPO / "knowledge" / "quizzes"


class Chat:
    """`torchtutor chat --json` driven line by line, as an adapter author would drive it."""

    def __init__(self, env: dict[str, str], *options: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "chat", "--json", "--user", "alice",
                                         *options],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env={**os.environ, **env, "PYTHONPATH": str(REPO)})
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, line: str, replies: int = 1) -> list[dict]:  # type: ignore[type-arg]
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        messages = [json.loads(self.lines.get(timeout=120)) for _ in range(replies)]
        assert all(set(m) == CHAT_KEYS for m in messages), messages
        return messages

    def wait_for(self, count: int) -> list[dict]:  # type: ignore[type-arg]
        """Messages nobody asked for (the scheduler's posts)."""
        return [json.loads(self.lines.get(timeout=60)) for _ in range(count)]

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=120)


def test_a_quiz_review_and_study_channel_through_chat_json(migrated, quiz_cache: Path) -> None:  # type: ignore[no-untyped-def]
    chat = Chat({"TORCHTUTOR_DATABASE_URL": migrated.database_url, "TORCHTUTOR_CACHE_DIR": str(quiz_cache)})
    try:
        [question] = chat.send("/quiz autograd")
        assert question["text"].startswith("**Question 1 of 5 · autograd**") and question["ephemeral"]
        first_buttons = question["buttons"]
        marks = []
        for number in range(1, 6):
            answers = [b["id"] for b in question["buttons"] if b["id"].startswith("quiz:answer:")]
            line = f"!click {answers[0]}" if answers else "!answer a new graph is built as the code runs, every pass"
            result, *summary = chat.send(line, replies=1 if number < 5 else 2)
            assert result["text"].startswith(f"**Answer {number} of 5 · autograd**") and result["ephemeral"]
            assert "_Source: " in result["text"]
            marks.append(next(mark for mark in ("✅", "❌", "🟡") if mark in result["text"]))
            if number == 1 and len(first_buttons) > 2:
                [twice] = chat.send(f"!click {first_buttons[1]['id']}")
                assert "already answered question 1" in twice["text"]
            if number < 5:
                [next_button] = [b["id"] for b in result["buttons"] if b["id"].startswith("quiz:next:")]
                [question] = chat.send(f"!click {next_button}")
        right = marks.count("✅")
        assert summary[0]["text"].startswith(f"**Quiz complete · {right} of 5**")
        assert f"**Score:** {right}/5" in summary[0]["text"]

        [stats] = chat.send("/stats")
        assert "**Attempts:** 5" in stats["text"] and "autograd" in stats["text"]
        [review] = chat.send("/review")
        assert "Nothing is due right now" in review["text"]
        [bad] = chat.send("/study start sometimes")
        assert "`daily 09:00`" in bad["text"] and bad["ephemeral"]
        [study] = chat.send("/study start every 6h")
        assert "**Schedule:** every 6 hours" in study["text"]
        [board] = chat.send("/leaderboard")
        assert f"🥇 alice: {right} correct of 5" in board["text"]
        [stray] = chat.send("!answer hello")
        assert "no question waiting" in stray["text"].lower()
        [mistakes] = chat.send("/review mistakes")  # what was missed comes back at once, not when due
        if right < 5:
            assert mistakes["text"].startswith(f"**Review 1 of {5 - right} · autograd**"), mistakes
            assert any(b["id"].startswith(("quiz:answer:", "quiz:skip:")) for b in mistakes["buttons"])
        else:
            assert "No mistakes" in mistakes["text"]
    finally:
        status = chat.close()
    assert status == 0


def test_a_team_round_in_a_terminal_channel_closes_by_itself(migrated, quiz_cache: Path) -> None:  # type: ignore[no-untyped-def]
    chat = Chat({"TORCHTUTOR_DATABASE_URL": migrated.database_url, "TORCHTUTOR_CACHE_DIR": str(quiz_cache),
                 "TORCHTUTOR_QUIZ_ROUND_QUESTIONS": "1", "TORCHTUTOR_QUIZ_ROUND_WINDOW_S": "5"},
                "--channel", "study-room")
    try:
        chat.send("/study start daily 09:00")
        [question] = chat.send("/quiz")
        assert "Team round" in question["text"] and not question["ephemeral"]
        answer = next(b["id"] for b in question["buttons"] if b["id"].startswith("quiz:answer:"))
        [ack] = chat.send(f"!click {answer}")
        assert ack["text"].startswith("Got it") and ack["ephemeral"]
        result, summary = chat.wait_for(2)  # posted by the scheduler when the 5 s window closes
        assert result["text"].startswith("**Answer 1 of 1") and "alice" in result["text"]
        assert summary["text"].startswith("**Round over**") and "alice: " in summary["text"]
    finally:
        status = chat.close()
    assert status == 0


async def test_study_tick_posts_a_due_question_once(env: QuizEnv, quiz_cache: Path) -> None:
    await env.command("/study start every 1h", channel="terminal")
    moment = (env.clock() + timedelta(hours=1)).isoformat()
    cache = {"TORCHTUTOR_CACHE_DIR": str(quiz_cache)}
    result = cli("study", "tick", "--now", moment, "--json", env=cache)
    assert result.returncode == 0, result.stderr
    post, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert post["event"] == "post" and post["channel_id"] == "terminal" and post["kind"] == "quiz_question"
    assert post["text"].startswith("**Study question · ") and post["buttons"]
    assert summary == {"event": "tick", "posts": 1}
    again = cli("study", "tick", "--now", moment, "--json", env=cache)
    assert [json.loads(line) for line in again.stdout.splitlines()] == [{"event": "tick", "posts": 0}]
    bad = cli("study", "tick", "--now", "next tuesday")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "ISO 8601" in bad.stderr


def test_knowledge_check_validates_quiz_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "topic: tensors\nitems:\n"
        "  - {id: orphan, entry: no-such-entry, kind: true_false, prompt: Tensors exist., answer: true,"
        " explanation: They do.}\n"
        "  - {id: fine, entry: how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray, kind: true_false,"
        " prompt: Tensors can live on a GPU., answer: true, explanation: They can be moved there.}\n"
        "  - {id: Bad Id, entry: x, kind: true_false, prompt: Discuss., answer: true, explanation: Why.}\n")
    result = cli("knowledge", "check", str(QUIZZES / "tensors.yaml"), str(broken), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"][0] == {"path": str(QUIZZES / "tensors.yaml"), "entries": 38, "warnings": []}
    assert report["files"][1] == {"path": str(broken), "entries": 1, "warnings": [
        "item #1 (orphan): unknown entry id 'no-such-entry'",
        "item #3 (Bad Id): id 'Bad Id' must be a lower-case slug not starting with 'gen-'"]}
    assert report["total_entries"] == report["total_items"] == 39

    everything = json.loads(cli("knowledge", "check", str(REPO / "knowledge"), "--json").stdout)
    pack = len(load_entries([REPO / "knowledge" / "docs"]))
    assert everything["total_items"] == 172 and everything["total_entries"] == 172 + pack
    assert all(not f["warnings"] for f in everything["files"])
    missing = cli("knowledge", "check", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 2 and "not found" in missing.stderr
    essay = tmp_path / "essay.yaml"
    essay.write_text("topic: tensors\nitems:\n  - {id: essay, entry: x, kind: essay, prompt: Discuss.}\n")
    unknown = cli("knowledge", "check", str(essay))
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert f"{essay} item #1 (essay): unknown kind 'essay'; expected one of choice" in unknown.stderr
