"""Spaced repetition: FSRS brings a wrong answer back sooner than a right one, and /review asks what is due."""

from __future__ import annotations

from datetime import timedelta

from fsrs import Rating
from sqlalchemy import select

from bot.core.conversation import Reply
from bot.core.learning.review import rating_for
from bot.db.quiz_models import ReviewState
from knowledge.grading import Grade
from tests.bot.quiz_fixtures import (  # noqa: F401
    QuizEnv,
    button,
    cache_fixture,
    choice_button,
    env_fixture,
    shown_item,
    shown_letter,
)

RIGHT, WRONG, SKIPPED = "dynamic-graph-when-built", "dynamic-graph-fixed-reuse", "dynamic-graph-variable-structure"
GOOD_BUT_INCOMPLETE = ("pytorch-explain-two-features",
                       "PyTorch gives you tensors, which are n-dimensional arrays you can do maths on, and automatic "
                       "differentiation for training.")


def states(env: QuizEnv) -> dict[str, ReviewState]:
    with env.database.session() as session:
        return {row.item_id: row for row in session.scalars(select(ReviewState))}


def test_answers_map_to_fsrs_ratings() -> None:
    assert rating_for(Grade(True, 1.0, "")) == Rating.Good
    assert rating_for(Grade(True, 0.8, "", ("runs on the GPU",))) == Rating.Hard
    assert rating_for(Grade(False, 0.5, "", ("a", "b"))) == Rating.Again
    assert rating_for(Grade(True, 1.0, ""), skipped=True) == Rating.Again


async def take_quiz(env: QuizEnv) -> None:
    """Right, wrong, skipped, and right-but-incomplete, in that order."""
    env.force_items(RIGHT, WRONG, SKIPPED, GOOD_BUT_INCOMPLETE[0])
    [question] = await env.command("/quiz")
    [result] = await env.click(choice_button(env, question, 1))
    [question] = await env.click(button(result, "quiz:next:"))
    [result] = await env.click(button(question, "quiz:answer:").rsplit(":", 1)[0] + ":true")
    [question] = await env.click(button(result, "quiz:next:"))
    [result] = await env.click(button(question, "quiz:skip:"))
    letter = shown_letter(env, question, 1)
    assert "Skipped" in result.text and f"The answer: **{letter.upper()})**" in result.text
    [question] = await env.click(button(result, "quiz:next:"))
    [result, summary] = await env.answer(GOOD_BUT_INCOMPLETE[1])
    assert "could say more" in result.text and summary.title == "Quiz complete · 2 of 4"


async def test_a_wrong_answer_is_due_sooner_than_a_right_one(env: QuizEnv) -> None:
    await take_quiz(env)
    now = env.clock()
    by_item = states(env)
    assert by_item[WRONG].due - now == timedelta(minutes=10) == by_item[SKIPPED].due - now
    assert by_item[GOOD_BUT_INCOMPLETE[0]].due - now == timedelta(minutes=15)
    assert by_item[RIGHT].due - now >= timedelta(days=1)
    assert by_item[WRONG].last_rating == "again" and by_item[RIGHT].last_rating == "good"
    assert by_item[GOOD_BUT_INCOMPLETE[0]].last_rating == "hard"
    assert by_item[RIGHT].state == "review" and by_item[WRONG].state == "learning"
    assert all(row.reps == 1 and row.lapses == 0 for row in by_item.values())
    assert by_item[RIGHT].card["due"] and by_item[RIGHT].stability is not None


async def test_review_asks_only_what_is_due(env: QuizEnv) -> None:
    [nothing] = await env.command("/review")
    assert nothing.kind == "review_empty" and "take a /quiz first" in nothing.text
    await take_quiz(env)
    [not_yet] = await env.command("/review")
    assert "Nothing is due right now" in not_yet.text and "4 item(s) scheduled" in not_yet.text

    env.clock.advance(minutes=11)
    [question] = await env.command("/review")
    assert question.title == "Review 1 of 2 · autograd" and question.ephemeral
    assert "one graph is built once" in question.text  # the wrong one first (due first), then the skipped one
    [result] = await env.click(button(question, "quiz:answer:").rsplit(":", 1)[0] + ":false")
    assert "✅" in result.text and result.title == "Answer 1 of 2 · autograd"
    [question] = await env.click(button(result, "quiz:next:"))
    assert "classic example" in question.text
    [result, summary] = await env.click(choice_button(env, question, 1))
    assert summary.title == "Review complete · 2 of 2"

    by_item = states(env)
    assert by_item[WRONG].reps == 2 and by_item[WRONG].due - env.clock() >= timedelta(days=1)
    env.clock.advance(minutes=5)  # the right-but-incomplete one is due now (15 minutes), and only it
    [question] = await env.command("/review")
    assert question.title == "Review 1 of 1 · pytorch-basics"


async def test_a_lapse_is_counted_when_a_learned_item_is_forgotten(env: QuizEnv) -> None:
    env.force_items(RIGHT)
    [question] = await env.command("/quiz")
    await env.click(choice_button(env, question, 1))
    env.clock.advance(days=3)
    [question] = await env.command("/review")
    [result, _] = await env.click(choice_button(env, question, 2))
    assert "❌" in result.text
    row = states(env)[RIGHT]
    assert row.lapses == 1 and row.reps == 2 and row.state == "relearning"
    assert row.due - env.clock() == timedelta(minutes=10)


async def test_review_mistakes_reasks_only_what_was_missed_until_each_is_right(env: QuizEnv) -> None:
    [nothing] = await env.command("/review mistakes")
    assert nothing.kind == "review_empty" and "No mistakes" in nothing.text
    env.force_items(RIGHT, WRONG, SKIPPED)
    [question] = await env.command("/quiz")
    [result] = await env.click(choice_button(env, question, 1))  # right
    [question] = await env.click(button(result, "quiz:next:"))
    [result] = await env.click(button(question, "quiz:answer:").rsplit(":", 1)[0] + ":true")  # wrong
    [question] = await env.click(button(result, "quiz:next:"))
    [_, summary] = await env.click(button(question, "quiz:skip:"))  # skipped
    assert summary.kind == "quiz_summary" and "/review mistakes" in summary.text
    assert [(b.id, b.label) for b in summary.buttons] == [("review:mistakes", "Review my mistakes")]

    # The button starts a review of the two missed items only, the one missed first first (no waiting for FSRS).
    [first] = await env.click("review:mistakes")
    assert first.title == "Review 1 of 2 · autograd" and first.ephemeral and shown_item_id(env, first) == WRONG
    [result] = await env.click(button(first, "quiz:answer:").rsplit(":", 1)[0] + ":false")  # the statement is false
    assert "✅" in result.text
    [second] = await env.click(button(result, "quiz:next:"))
    assert shown_item_id(env, second) == SKIPPED
    [_, summary] = await env.click(choice_button(env, second, 2))  # wrong again
    assert summary.title == "Review complete · 1 of 2" and summary.buttons[0].id == "review:mistakes"

    # Typed as a command, it asks only what is still wrong; once right, nothing is left.
    [again] = await env.command("/review mistakes")
    assert again.title == "Review 1 of 1 · autograd" and shown_item_id(env, again) == SKIPPED
    [_, done] = await env.click(choice_button(env, again, 1))
    assert done.title == "Review complete · 1 of 1" and "Perfect" in done.text and not done.buttons
    [empty] = await env.command("/review mistakes")
    assert empty.kind == "review_empty"
    [bad] = await env.command("/review everything")
    assert bad.kind == "error" and "/review mistakes" in bad.text


def shown_item_id(env: QuizEnv, question: Reply) -> str:
    return shown_item(env, button(question, "quiz:answer:")).id
