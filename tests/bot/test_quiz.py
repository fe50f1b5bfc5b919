"""Quizzes through the Tutor: personal quizzes, team rounds, refusals, restarts, generated items."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.core.conversation import Reply
from bot.db.migrate import upgrade
from bot.db.models import KnowledgeEntry
from bot.db.quiz_models import QuizAttempt, QuizPrompt, QuizSession, ReviewState
from tests.bot.quiz_fixtures import (  # noqa: F401
    FakeClock,
    QuizEnv,
    RecordingPoster,
    button,
    cache_fixture,
    choice_button,
    env_fixture,
    shown_letter,
)

CHOICE = "dynamic-graph-when-built"  # right answer: A (1)
TRUE_FALSE = "dynamic-graph-fixed-reuse"  # the statement is false
TYPED_RIGHT = ("dynamic-graph-define",
               "its a graph thats made while the model runs, new one every forward pass")
TYPED_PARTIAL = ("tensor-vs-ndarray-two-differences", "Tensors can run on a GPU but numpy arrays only run on the CPU.")
TYPED_WRONG = ("tensor-numpy-conversion", "You have to save the array to a CSV file and read it back in with pandas.")
ROUND = ("dynamic-graph-when-built", "dynamic-graph-fixed-reuse", "dynamic-graph-variable-structure")


def attempts(env: QuizEnv) -> list[QuizAttempt]:
    with env.database.session() as session:
        return list(session.scalars(select(QuizAttempt).order_by(QuizAttempt.id)))


async def start_round(env: QuizEnv) -> Reply:
    """Make c1 a study channel and start a team round there; its first question."""
    await env.command("/study start every 6h", channel="room", direct=False)
    env.force_items(*ROUND)
    [question] = await env.command("/quiz", channel="room", direct=False)
    assert question.kind == "quiz_question" and not question.ephemeral, question
    assert question.title == "Question 1 of 3 · autograd" and "Team round" in question.text
    return question


async def test_a_personal_quiz_from_start_to_summary(env: QuizEnv) -> None:
    env.force_items(CHOICE, TRUE_FALSE, TYPED_RIGHT[0], TYPED_PARTIAL[0], TYPED_WRONG[0])
    [question] = await env.command("/quiz")
    assert question.kind == "quiz_question" and question.ephemeral
    assert question.title == "Question 1 of 5 · autograd"
    assert [b.label[:3] for b in question.buttons] == ["A) ", "B) ", "C) ", "D) ", "Ski"]
    assert all(len(b.label) <= 80 for b in question.buttons)

    [result] = await env.click(choice_button(env, question, 1))
    assert result.kind == "quiz_result" and "✅" in result.text and result.ephemeral
    assert "what-is-a-dynamic-computation-graph" in (result.citation or "")
    assert result.title == "Answer 1 of 5 · autograd"
    [question] = await env.click(button(result, "quiz:next:"))
    assert question.title == "Question 2 of 5 · autograd"
    [result] = await env.click(button(question, "quiz:answer:").rsplit(":", 1)[0] + ":true")
    assert "❌" in result.text and "It's false" in result.text

    [question] = await env.click(button(result, "quiz:next:"))
    assert "sentence or two" in question.text and [b.label for b in question.buttons] == ["Skip"]
    [result] = await env.answer(TYPED_RIGHT[1])
    assert "✅ **Well answered**" in result.text

    [question] = await env.click(button(result, "quiz:next:"))
    [result] = await env.answer(TYPED_PARTIAL[1])
    assert "🟡 **Partly there**" in result.text and "Points to add:\n- " in result.text

    [question] = await env.click(button(result, "quiz:next:"))
    result, summary = await env.answer(TYPED_WRONG[1])
    assert "❌ **Not quite**" in result.text and [b.label for b in result.buttons] == ["Explain"]  # no Next
    assert summary.kind == "quiz_summary" and summary.title == "Quiz complete · 2 of 5"
    assert ("Score", "2/5 (40%)") in summary.fields and "/review" in summary.text

    stored = attempts(env)
    assert [(a.item_id, a.correct, a.slot) for a in stored] == [
        (CHOICE, True, 0), (TRUE_FALSE, False, 1), (TYPED_RIGHT[0], True, 2), (TYPED_PARTIAL[0], False, 3),
        (TYPED_WRONG[0], False, 4)]
    assert stored[2].answer == TYPED_RIGHT[1] and stored[2].kind == "free_text" and stored[0].mode == "personal"
    with env.database.session() as session:
        quiz = session.get(QuizSession, stored[0].session_id)
        assert quiz is not None and quiz.state == "finished" and quiz.answers == 5
        assert session.scalar(select(func.count()).select_from(QuizPrompt)) == 0
        assert session.scalar(select(func.count()).select_from(ReviewState)) == 5


async def test_old_buttons_and_double_answers_are_refused_and_counted_once(env: QuizEnv) -> None:
    env.force_items(CHOICE, TRUE_FALSE)
    [first] = await env.command("/quiz")
    [result] = await env.click(choice_button(env, first, 2))
    assert "❌" in result.text
    [again] = await env.click(choice_button(env, first, 1))  # the right answer, after the fact
    assert again.kind == "error" and "already answered question 1" in again.text and again.ephemeral
    [skip] = await env.click(button(first, "quiz:skip:"))
    assert "already answered" in skip.text

    # Pressing Next twice shows the same question; it does not skip one.
    [second] = await env.click(button(result, "quiz:next:"))
    [same] = await env.click(button(result, "quiz:next:"))
    assert second.title == same.title == "Question 2 of 2 · autograd"

    # Two presses of the same button at once: one is graded, the other refused.
    replies = await asyncio.gather(env.click(button(second, "quiz:answer:")), env.click(button(second,
                                                                                              "quiz:answer:")))
    kinds = sorted(r.kind for pair in replies for r in pair)
    assert kinds == ["error", "quiz_result", "quiz_summary"], kinds
    assert len(attempts(env)) == 2

    [finished] = await env.click(button(second, "quiz:answer:"))
    assert "already answered question 2" in finished.text
    [no_prompt] = await env.answer("true")
    assert "no question waiting" in no_prompt.text.lower()


async def test_only_the_owner_presses_a_personal_quiz(env: QuizEnv) -> None:
    env.force_items(CHOICE)
    [question] = await env.command("/quiz")
    [refusal] = await env.click(choice_button(env, question, 1), user="bob")
    assert refusal.kind == "error" and refusal.ephemeral and "Alice's" in refusal.text
    [typed] = await env.answer("a", user="bob")
    assert "no question waiting" in typed.text.lower()
    assert attempts(env) == []
    [result, _] = await env.click(choice_button(env, question, 1))
    assert "✅" in result.text


async def test_a_new_quiz_replaces_an_unfinished_one(env: QuizEnv) -> None:
    [old] = await env.command("/quiz")
    [new] = await env.command("/quiz tensors")
    assert "unfinished quiz" in new.text and new.title.endswith("· tensors")
    [refusal] = await env.click(old.buttons[0].id)
    assert "replaced by a newer one" in refusal.text
    [bad] = await env.command("/quiz knitting")
    assert bad.kind == "quiz_topics" and bad.ephemeral and "no quiz topic `knitting`" in bad.text
    assert "autograd" in bad.text and "tensors" in bad.text


async def test_the_topic_list_is_offered_and_each_topic_starts_a_quiz(env: QuizEnv) -> None:
    topics = env.features.bank.snapshot().topics
    [listed] = await env.command("/quiz topics")
    assert listed.kind == "quiz_topics" and listed.ephemeral
    assert [b.label for b in listed.buttons] == [*topics, "All topics"]
    assert all(topic in listed.text for topic in topics)
    [quiz] = await env.click(button(listed, "quiz:topic:tensors"))
    assert quiz.kind == "quiz_question" and quiz.title.endswith("· tensors")
    [every] = await env.click("quiz:topic:")
    assert every.kind == "quiz_question" and "unfinished quiz" in every.text
    [help_] = await env.command("/help")
    assert f"Quiz topics: {', '.join(topics)}." in help_.text and "/review [mistakes]" in help_.text
    assert env.features.quiz.topics_matching("ten") == ["tensors"]
    assert env.features.quiz.topics_matching("ing")[:2] == ["data-loading", "debugging"]


async def test_unreadable_typed_answer_keeps_the_question_open(env: QuizEnv) -> None:
    env.force_items(CHOICE)
    [question] = await env.command("/quiz")
    [unread] = await env.answer("maybe the fifth one")
    assert unread.kind == "error" and "couldn't read that answer" in unread.text
    letter = shown_letter(env, question, 1)  # the right answer, wherever the shuffle showed it
    [result, summary] = await env.answer(letter)  # a letter typed instead of pressed
    assert "✅" in result.text and f"**{letter.upper()})**" in result.text and summary.kind == "quiz_summary"


async def test_a_team_round_counts_everyone_once_and_closes_after_its_window(env: QuizEnv) -> None:
    question = await start_round(env)
    prefix = button(question, "quiz:answer:").rsplit(":", 1)[0]
    right, wrong, other = (choice_button(env, question, n) for n in (1, 2, 3))
    letter = shown_letter(env, question, 1)
    room = {"channel": "room", "direct": False}

    # Alice and Bob press at the same moment, Carol twice at once (either press may win): one attempt each.
    results = await asyncio.gather(env.click(right, "alice", **room), env.click(wrong, "bob", **room),
                                   env.click(right, "carol", **room), env.click(other, "carol", **room))
    kinds = [r.kind for pair in results for r in pair]
    assert sorted(kinds) == ["error", "quiz_ack", "quiz_ack", "quiz_ack"], kinds
    ack = results[0][0]
    assert ack.ephemeral and "Got it" in ack.text and "✅" not in ack.text  # nothing given away before the window
    assert f"you answered **{letter.upper()})**" in ack.text  # the letter Alice saw
    # Three people, one attempt each (ids need not be 1..3: PostgreSQL sequences skip a value when Carol's two
    # concurrent presses both try to create her user row).
    users = [a.user_id for a in attempts(env)]
    assert len(users) == 3 and len(set(users)) == 3

    [elsewhere] = await env.click(f"{prefix}:1", "dave", channel="other", direct=False)
    assert elsewhere.kind == "error" and "another channel" in elsewhere.text
    [busy] = await env.command("/quiz", "dave", **room)
    assert "already running" in busy.text

    env.clock.advance(seconds=61)
    [late] = await env.click(f"{prefix}:1", "dave", **room)
    assert late.kind == "error" and "Time's up" in late.text
    posts = await env.tick()
    assert [p.reply.kind for p in posts] == ["quiz_round_result", "quiz_question"]
    assert all(p.channel_id == "room" and p.platform == "console" for p in posts)
    result = posts[0].reply.text
    lines = result.splitlines()
    right = next(line for line in lines if line.startswith("✅ Right:"))
    wrong = next(line for line in lines if line.startswith("❌ Wrong:"))
    assert f"The answer: **{letter.upper()})**" in result
    assert "Alice" in right and "Bob" in wrong and "Carol" in right + wrong
    assert "**Scores:** Alice 1" in result and "Bob 0" in result
    assert posts[1].reply.title == "Question 2 of 3 · autograd"
    assert await env.tick() == []  # closed once

    [closed] = await env.click(f"{prefix}:1", "dave", **room)
    assert "question 1 has closed" in closed.text
    second = button(posts[1].reply, "quiz:answer:").rsplit(":", 1)[0]
    await env.click(f"{second}:false", "bob", **room)
    env.clock.advance(seconds=61)
    await env.tick()
    env.clock.advance(seconds=61)
    posts = await env.tick()
    assert [p.reply.kind for p in posts] == ["quiz_round_result", "quiz_summary"]
    assert "Nobody answered" in posts[0].reply.text
    assert "🥇 Alice: 1 of 3" in posts[1].reply.text or "🥇 Bob: 1 of 3" in posts[1].reply.text
    assert len(attempts(env)) == 4
    [again] = await env.command("/quiz", "dave", **room)  # the channel is free for a new round
    assert again.kind == "quiz_question"


async def test_a_restart_mid_quiz_keeps_the_round_and_the_typed_question(env: QuizEnv) -> None:
    round_question = await start_round(env)
    right, wrong = choice_button(env, round_question, 1), choice_button(env, round_question, 2)
    await env.click(right, "alice", channel="room", direct=False)
    env.force_items(TYPED_RIGHT[0], CHOICE)
    [question] = await env.command("/quiz", "bob")
    assert "sentence or two" in question.text

    env.restart()
    [ack] = await env.click(wrong, "carol", channel="room", direct=False)
    assert ack.kind == "quiz_ack"
    [dup] = await env.click(right, "alice", channel="room", direct=False)
    assert "already answered" in dup.text
    [result] = await env.answer(TYPED_RIGHT[1], "bob")
    assert "✅" in result.text and result.kind == "quiz_result"
    [next_question] = await env.click(button(result, "quiz:next:"), "bob")
    assert next_question.title == "Question 2 of 2 · autograd"

    env.clock.advance(seconds=61)
    posts = await env.tick()
    assert "✅ Right: Alice" in posts[0].reply.text and "❌ Wrong: Carol" in posts[0].reply.text


async def test_entries_without_authored_items_get_generated_ones(env: QuizEnv) -> None:
    with env.database.transaction() as session:
        session.add(KnowledgeEntry(
            id="what-is-torch-compile", question="What does torch.compile do?",
            answer="torch.compile traces your model's Python code into graphs and compiles them into fused kernels, "
                   "which often makes training and inference faster without changing the model's code.",
            aliases=[], tags=["compilation"], demo=None))
    env.runtime.knowledge.reload()
    snapshot = env.features.bank.snapshot()
    generated = [item for item in snapshot.items if item.generated]
    authored = {item.entry for item in snapshot.items if not item.generated}
    untested = {entry.id for entry in env.runtime.knowledge.index.entries} - authored
    assert "what-is-torch-compile" in {item.entry for item in generated} <= untested
    assert all(item.id.startswith("gen-") for item in generated)
    assert {item.topic for item in generated if item.entry == "what-is-torch-compile"} == {"compilation"}
    assert len(snapshot.items) == 172 + len(generated)

    [question] = await env.command("/quiz compilation")
    assert "generated from the knowledge base" in question.text
    item = snapshot.get(next(i for i in (g.id for g in generated) if snapshot.get(i).prompt in question.text))
    assert item is not None
    [result, *_] = await env.click(choice_button(env, question, item.correct_index + 1))
    assert "✅" in result.text
    assert attempts(env)[0].generated and attempts(env)[0].topic == "compilation"


@pytest.mark.postgres
async def test_concurrent_answers_count_once_on_postgres(migrated, embedder, quiz_cache, postgres_url) -> None:  # type: ignore[no-untyped-def]
    upgrade(postgres_url)
    settings = migrated.model_copy(update={"database_url": postgres_url, "cache_dir": quiz_cache})
    env = QuizEnv(settings, embedder, FakeClock(), RecordingPoster())
    try:
        prefix = button(await start_round(env), "quiz:answer:").rsplit(":", 1)[0]
        room = {"channel": "room", "direct": False}
        presses = [env.click(f"{prefix}:{n}", user, **room) for user in ("alice", "bob", "carol") for n in (1, 2)]
        kinds = sorted(r.kind for replies in await asyncio.gather(*presses) for r in replies)
        assert kinds == ["error"] * 3 + ["quiz_ack"] * 3, kinds
        assert len(attempts(env)) == 3
        env.clock.advance(seconds=61)
        [late] = await env.click(f"{prefix}:1", "dave", **room)
        assert "Time's up" in late.text
        posts = await env.tick()
        assert [p.reply.kind for p in posts] == ["quiz_round_result", "quiz_question"]
        with env.database.session() as session:
            assert session.scalar(select(QuizSession.answers).where(QuizSession.mode == "team")) == 3
    finally:
        env.close()


async def test_explain_shows_the_knowledge_entry_after_grading_and_not_before(env: QuizEnv) -> None:
    env.force_items(CHOICE, TRUE_FALSE)
    [question] = await env.command("/quiz")
    session_id = button(question, "quiz:answer:").split(":")[2]
    [early] = await env.click(f"quiz:explain:{session_id}:0")
    assert early.kind == "error" and "Answer the question first" in early.text
    [result] = await env.click(choice_button(env, question, 2))
    assert [b.label for b in result.buttons] == ["Explain", "Next"]
    [explained] = await env.click(button(result, "quiz:explain:"))
    entry = env.runtime.knowledge.index.by_id["what-is-a-dynamic-computation-graph-and-why-is-it-an-advantage"]
    assert explained.kind == "quiz_explain" and explained.ephemeral
    assert explained.title == entry.question and explained.text == entry.answer
    assert "what-is-a-dynamic-computation-graph" in (explained.citation or "")
    [later] = await env.click(f"quiz:explain:{session_id}:1")  # the next question is not graded yet
    assert "Answer the question first" in later.text
    [other] = await env.click(button(result, "quiz:explain:"), "bob")  # a result someone shared: fine to read
    assert other.kind == "quiz_explain"
