"""Nothing is lost to a busy database: questions and votes asked while another connection holds a real lock are
answered, kept in the journal, and stored exactly once when the lock goes; past the bounds the loss is counted."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.core.conversation import Person, Request
from bot.db.models import Feedback, Question
from bot.web.app import create_app
from tests.bot.quiz_fixtures import cache_fixture, env_fixture  # noqa: F401
from tests.db_locks import database_locked, released_after
from tests.helpers import wait_until


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short lock waits and retries, so a lock of a few seconds spans many of them."""
    from bot.config import get_settings

    monkeypatch.setenv("TORCHTUTOR_DATABASE_LOCK_TIMEOUT_S", "0.3")
    monkeypatch.setenv("TORCHTUTOR_DB_RETRY_FIRST_S", "0.1")
    monkeypatch.setenv("TORCHTUTOR_DB_RETRY_MAX_S", "0.4")
    get_settings.cache_clear()


def _questions(runtime, text: str | None = None) -> int:  # type: ignore[no-untyped-def]
    with runtime.database.session() as session:
        query = select(func.count()).select_from(Question)
        if text is not None:
            query = query.where(Question.text == text)
        return int(session.scalar(query) or 0)


def _ask(user: str, text: str, channel: str = "general") -> Request:
    return Request(platform="discord", user=Person(user, user), channel_id=channel, workspace_id="g1",
                   command="ask", text=text)


def test_questions_asked_during_a_lock_are_answered_and_stored_once(fast_retries, runtime) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(runtime), client=("127.0.0.1", 50000))
    asked = [f"what is a tensor, number {n}" for n in range(5)]
    with released_after(30, runtime.settings.database_url) as release:
        for text in asked:
            response = client.post("/api/v1/ask", json={"question": text})
            assert response.status_code == 200 and response.json()["status"] == "answered"
        reply = asyncio.run(runtime.qa.ask(_ask("alice", "how do I move a tensor to the GPU?")))
        assert reply.kind == "answer" and "cuda" in reply.text.lower()
        assert not [b for b in reply.buttons if b.id.startswith("feedback:")]  # no row id to vote on yet
        wait_until(lambda: runtime.journal.pending == 6, what="six kept questions")
        release.set()
    wait_until(lambda: runtime.journal.pending == 0, timeout=30, what="the journal to drain")
    for text in [*asked, "how do I move a tensor to the GPU?"]:
        assert _questions(runtime, text) == 1, text
    # Once the database is back, questions are stored at once again, with a row to vote on.
    reply = asyncio.run(runtime.qa.ask(_ask("alice", "what is autograd")))
    assert any(b.id.startswith("feedback:") for b in reply.buttons)


def test_a_vote_during_a_lock_lands_once(fast_retries, runtime) -> None:  # type: ignore[no-untyped-def]
    reply = asyncio.run(runtime.qa.ask(_ask("alice", "what is a tensor")))
    down = next(b.id for b in reply.buttons if b.id.startswith("feedback:down:"))
    press = Request(platform="discord", user=Person("bob", "bob"), channel_id="general", workspace_id="g1",
                    action=down)
    with released_after(30, runtime.settings.database_url, ("questions", "feedback")) as release:
        thanks = asyncio.run(runtime.qa.feedback(press))
        assert thanks.kind == "feedback"
        assert runtime.journal.pending == 1
        release.set()
    wait_until(lambda: runtime.journal.pending == 0, timeout=30, what="the vote to be written")
    with runtime.database.session() as session:
        votes = session.execute(select(Feedback.vote)).scalars().all()
    assert votes == [-1]


def test_records_of_a_crashed_process_are_replayed_once(fast_retries, migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    """A journal file whose process died (its lock is free) is adopted at start; a record that had landed before
    the crash, and one written twice, are stored once."""
    from bot.runtime import build_runtime

    first = build_runtime(migrated, encoder=embedder)
    first.start()
    with database_locked(migrated.database_url):
        asyncio.run(first.qa.ask(_ask("alice", "what is a tensor")))
        wait_until(lambda: first.journal.pending == 1, what="a kept question")
    directory = first.journal.directory
    [kept] = [p for p in directory.glob("*.jsonl")]
    line = kept.read_bytes()
    first.journal._stop.set()  # the process "dies": nothing flushed, its file left behind, its lock released
    first.journal._file.close()
    first.journal._file = None
    first.journal._pending.clear()
    first.close()
    kept.write_bytes(line + line)  # the same record twice, as a replay after a crash mid-flush would see it
    assert json.loads(line)["kind"] == "question"

    second = build_runtime(migrated, encoder=embedder)
    try:
        second.start()
        wait_until(lambda: _questions(second, "what is a tensor") == 1 and second.journal.pending == 0,
                   timeout=30, what="the adopted question")
        assert not kept.exists()
        second.journal.flush()
        assert _questions(second, "what is a tensor") == 1
    finally:
        second.close()


def test_past_the_window_a_record_is_counted_lost(monkeypatch, fast_retries, runtime, caplog) -> None:  # type: ignore[no-untyped-def]
    runtime.journal.settings = type(runtime.journal.settings)(first_retry_s=0.1, max_retry_s=0.2, window_s=0.5)
    with released_after(30, runtime.settings.database_url) as release:
        asyncio.run(runtime.qa.ask(_ask("alice", "what is a tensor")))
        wait_until(lambda: runtime.journal.lost == 1, timeout=20, what="the record to be given up")
        release.set()
    metrics = runtime.metrics.render().decode()
    assert 'torchtutor_records_lost_total{kind="question",reason="expired"} 1.0' in metrics
    assert any("lost a question record (expired)" in r.getMessage() for r in caplog.records)
    assert _questions(runtime) == 0


async def test_a_quiz_answer_during_a_lock_is_graded_now_and_recorded_once(fast_retries, env) -> None:  # type: ignore[no-untyped-def]
    from bot.db.quiz_models import QuizAttempt
    from tests.bot.quiz_fixtures import choice_button

    env.force_items("dynamic-graph-when-built")
    [question] = await env.command("/quiz")
    journal = env.runtime.journal
    # On PostgreSQL the lock is on a table the answer is written to but not checked against.
    with released_after(30, env.runtime.settings.database_url, ("review_states",)) as release:
        pressed = choice_button(env, question, 1)
        [result] = await env.click(pressed)
        assert result.kind == "quiz_result" and "saved and will count" in result.text
        assert journal.pending == 1
        release.set()
    wait_until(lambda: journal.pending == 0, timeout=30, what="the kept answer to be recorded")
    with env.database.session() as session:
        attempts = session.scalars(select(QuizAttempt)).all()
    assert [(a.slot, a.answer) for a in attempts] == [(0, pressed.rsplit(":", 1)[1])]  # the choice as shown
    [again] = await env.click(choice_button(env, question, 2))  # the same question again: the first answer counts
    assert "already answered" in again.text


QUIZ_TABLES = ("quiz_attempts", "quiz_sessions")  # on PostgreSQL not even readable while locked
TYPED = ("dynamic-graph-define", "its a graph thats made while the model runs, new one every forward pass")


def _quiz_rows(env):  # type: ignore[no-untyped-def]
    """(attempts as (slot, answer, correct), review states as item ids, sessions as (current index, state))."""
    from bot.db.quiz_models import QuizAttempt, QuizSession, ReviewState

    with env.database.session() as session:
        attempts = session.scalars(select(QuizAttempt).order_by(QuizAttempt.id)).all()
        reviews = list(session.scalars(select(ReviewState.item_id)))
        quizzes = session.scalars(select(QuizSession).order_by(QuizSession.id)).all()
    return [(a.slot, a.answer, a.correct) for a in attempts], reviews, [(q.current_index, q.state) for q in quizzes]


async def test_an_answer_while_the_quiz_tables_are_locked_is_graded_now_and_lands_once(fast_retries, env) -> None:  # type: ignore[no-untyped-def]
    from tests.bot.quiz_fixtures import button, choice_button

    env.force_items("dynamic-graph-when-built", "dynamic-graph-fixed-reuse")
    [question] = await env.command("/quiz")
    pressed = choice_button(env, question, 1)  # the right answer, wherever the shuffle put it
    journal = env.runtime.journal
    with released_after(20, env.runtime.settings.database_url, QUIZ_TABLES) as release:
        [result] = await env.click(pressed)
        assert result.kind == "quiz_result" and "✅" in result.text and "saved and will count" in result.text
        assert result.title == "Answer 1 of 2 · autograd"
        [again] = await env.click(pressed)  # kept, not yet written: still the first answer that counts
        assert again.kind == "error" and "already answered question 1" in again.text
        assert journal.pending == 1
        release.set()
    wait_until(lambda: journal.pending == 0, timeout=30, what="the kept answer to be recorded")
    attempts, reviews, sessions = _quiz_rows(env)
    assert attempts == [(0, pressed.rsplit(":", 1)[1], True)]
    assert reviews == ["dynamic-graph-when-built"]  # its review is scheduled
    assert sessions == [(1, "active")]  # and the quiz moved on to question 2
    [following] = await env.click(button(result, "quiz:next:"))
    assert following.title == "Question 2 of 2 · autograd"


async def test_a_typed_answer_while_the_quiz_tables_are_locked_is_graded_now_and_lands_once(fast_retries, env) -> None:  # type: ignore[no-untyped-def]
    env.force_items(TYPED[0], "dynamic-graph-when-built")
    [question] = await env.command("/quiz")
    assert "sentence or two" in question.text
    journal = env.runtime.journal
    with released_after(20, env.runtime.settings.database_url, QUIZ_TABLES) as release:
        [result] = await env.answer(TYPED[1])
        assert result.kind == "quiz_result" and "Well answered" in result.text and "saved and will count" in result.text
        assert journal.pending == 1
        release.set()
    wait_until(lambda: journal.pending == 0, timeout=30, what="the kept answer to be recorded")
    attempts, reviews, sessions = _quiz_rows(env)
    assert attempts == [(0, TYPED[1], True)] and reviews == [TYPED[0]] and sessions == [(1, "active")]
    [after] = await env.answer("something else")  # that question is answered: nothing waits for typing
    assert after.kind == "error" and "no question waiting" in after.text.lower()
    assert len(_quiz_rows(env)[0]) == 1


async def test_a_forged_press_while_the_quiz_tables_are_locked_is_still_refused(fast_retries, env) -> None:  # type: ignore[no-untyped-def]
    from tests.bot.quiz_fixtures import choice_button

    env.force_items("dynamic-graph-when-built")
    [question] = await env.command("/quiz")
    pressed = choice_button(env, question, 1)
    journal = env.runtime.journal
    with released_after(20, env.runtime.settings.database_url, QUIZ_TABLES) as release:
        [forged] = await env.click(pressed, user="bob")  # `!click <alice's button>` typed by bob
        assert forged.kind == "error" and "Alice's" in forged.text
        [typed] = await env.answer("a", user="bob")
        assert typed.kind == "error" and "no question waiting" in typed.text.lower()
        assert journal.pending == 0  # nothing kept to write later
        release.set()
    assert _quiz_rows(env) == ([], [], [(0, "active")])
    result, summary = await env.click(pressed)  # the question is still alice's to answer (its only one)
    assert result.kind == "quiz_result" and "✅" in result.text and summary.kind == "quiz_summary"
