"""Shuffled choices: the right answer's position is spread evenly over the real bank, and what is graded is what
was shown, for buttons, typed letters, team rounds and reviews."""

from __future__ import annotations

import math
import random
import re
from collections import Counter

from sqlalchemy import select

from bot.core.learning.quizzes import QuizService, render_question, shown
from bot.core.text import chat_escape
from bot.db.quiz_models import PERSONAL, QuizAttempt, QuizSession
from knowledge.grading import LETTERS
from knowledge.quiz_bank import default_quiz_paths, load_bank
from knowledge.quiz_kinds import grade
from tests.bot.quiz_fixtures import (  # noqa: F401
    START,
    QuizEnv,
    button,
    cache_fixture,
    choice_button,
    env_fixture,
    shown_item,
    shown_letter,
)

PRESENTATIONS = 200  # per choice item
SHOWN_CHOICE = re.compile(r"^\*\*([A-F])\)\*\* (.*)$", re.MULTILINE)


def chi_square_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for a chi-square variable: the regularised upper incomplete gamma Q(dof/2, statistic/2)."""
    a, x = dof / 2, statistic / 2
    if x <= 0:
        return 1.0
    term = total = 1.0 / a
    n = 0
    while term > total * 1e-15:
        n += 1
        term *= x / (a + n)
        total += term
    return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))


def test_chi_square_helper_matches_known_values() -> None:
    # Tabled critical values: p = 0.05 at 11.07 (5 dof), p = 0.01 at 6.635 (1 dof), p = 0.5 at 4.351 (5 dof).
    assert abs(chi_square_sf(11.0705, 5) - 0.05) < 1e-4
    assert abs(chi_square_sf(6.6349, 1) - 0.01) < 1e-4
    assert abs(chi_square_sf(4.3515, 5) - 0.5) < 1e-4


def right_letter_counts(service: QuizService, items: list, presentations: int) -> tuple[Counter[str], Counter[str]]:
    """Present each item `presentations` times as a person sees it; where the right answer's text was shown, and
    the expected count per letter if every position were equally likely."""
    seen: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    for number, item in enumerate(items):
        for round_ in range(presentations):
            quiz = QuizSession(id=number * presentations + round_ + 1, mode=PERSONAL, item_ids=[item.id],
                               choice_orders=service.choice_orders([item]), ephemeral=True)
            reply = render_question(quiz, 0, item, now=START)
            shown_choices = SHOWN_CHOICE.findall(reply.text)
            assert sorted(text for _, text in shown_choices) == sorted(chat_escape(c.text) for c in item.choices)
            [letter] = [letter for letter, text in shown_choices if text == chat_escape(item.choices[
                item.correct_index].text)]
            seen[letter] += 1
            for position in range(len(item.choices)):
                expected[LETTERS[position].upper()] += 1 / len(item.choices)
            # The typed letter and the button of the letter shown both grade as right; every other one as wrong.
            as_shown = shown(quiz, 0, item)
            labels = [b.label[0] for b in reply.buttons if b.id.startswith("quiz:answer:")]
            assert labels == [LETTERS[i].upper() for i in range(len(item.choices))]
            for position in range(len(item.choices)):
                said = LETTERS[position]
                assert grade(as_shown, said, _no_encoder).correct is (said.upper() == letter), (item.id, said)
                button_value = reply.buttons[position].id.rsplit(":", 1)[1]
                assert grade(as_shown, button_value, _no_encoder).correct is (said.upper() == letter)
    return seen, expected


def _no_encoder(texts: list[str]):  # type: ignore[no-untyped-def]
    raise AssertionError("choice grading must not encode")


def test_the_right_answer_is_spread_evenly_over_the_letters_of_the_real_bank(env: QuizEnv) -> None:
    items = [item for item in env.features.bank.snapshot().items if item.kind == "choice"]
    assert len(items) >= 81  # the authored ones, and any generated from the knowledge base
    service = QuizService(env.database, env.features.bank, env.embedder, env.features.quiz.reviewer,  # type: ignore[arg-type]
                          rng=random.Random(2026))
    seen, expected = right_letter_counts(service, items, PRESENTATIONS)
    letters = sorted(expected)
    statistic = sum((seen[letter] - expected[letter]) ** 2 / expected[letter] for letter in letters)
    p_value = chi_square_sf(statistic, len(letters) - 1)
    print("\nright answer shown at:", {letter: seen[letter] for letter in letters},
          "expected:", {letter: round(expected[letter], 1) for letter in letters},
          f"chi2={statistic:.2f} dof={len(letters) - 1} p={p_value:.3f}")
    assert p_value > 0.01, (seen, expected, statistic)
    # Not merely spread: no letter is far from its share (the authored file order put every right answer at A).
    assert all(abs(seen[letter] - expected[letter]) < 0.1 * expected[letter] + 30 for letter in letters)


def test_the_unshuffled_authored_order_would_fail_the_same_test() -> None:
    """The test above can fail: the bank as authored shows every right answer first."""
    items = [item for item in load_bank(default_quiz_paths()).items if item.kind == "choice"]
    seen = Counter(LETTERS[item.correct_index].upper() for item in items)
    expected: Counter[str] = Counter()
    for item in items:
        for position in range(len(item.choices)):
            expected[LETTERS[position].upper()] += 1 / len(item.choices)
    statistic = sum((seen[letter] - expected[letter]) ** 2 / expected[letter] for letter in expected)
    assert chi_square_sf(statistic, len(expected) - 1) < 0.01


def test_true_false_items_are_balanced_in_the_bank() -> None:
    answers = Counter(item.answer for item in load_bank(default_quiz_paths()).items if item.kind == "true_false")
    assert abs(answers[True] - answers[False]) <= 2, answers


async def test_a_quiz_shows_a_stored_order_and_grades_the_letter_shown(env: QuizEnv) -> None:
    item_id = "dynamic-graph-when-built"
    orders = set()
    for _ in range(12):  # a fresh order per presentation, stored with the session and never recomputed
        env.force_items(item_id)
        [question] = await env.command("/quiz")
        with env.database.session() as session:
            quiz = session.scalars(select(QuizSession).order_by(QuizSession.id.desc())).first()
            assert quiz is not None and quiz.choice_orders is not None
            order = quiz.choice_orders[0]
        item = shown_item(env, button(question, "quiz:answer:"))
        shown_texts = [text for _, text in SHOWN_CHOICE.findall(question.text)]
        assert shown_texts == [chat_escape(item.choices[i].text) for i in order]
        orders.add(tuple(order))
    assert len(orders) > 3

    # The person sees the right answer under some letter; pressing that letter's button is right.
    letter = shown_letter(env, question, 1)
    [again] = await env.click(button(question, "quiz:answer:").rsplit(":", 2)[0].replace("answer", "next"))
    assert again.text in question.text  # re-shown in the same order
    pressed = next(b for b in question.buttons if b.label.startswith(f"{letter.upper()})"))
    [result, summary] = await env.click(pressed.id)
    assert result.text.startswith(f"✅ **Correct!** **{letter.upper()})** {item.choices[0].text}")
    with env.database.session() as session:
        [attempt] = session.scalars(select(QuizAttempt)).all()
        assert attempt.correct and attempt.choice_order == list(order)
        assert attempt.answer == pressed.id.rsplit(":", 1)[1]


async def test_a_wrong_typed_letter_names_both_letters_as_shown(env: QuizEnv) -> None:
    env.force_items("dynamic-graph-when-built")
    [question] = await env.command("/quiz")
    right = shown_letter(env, question, 1)
    wrong = shown_letter(env, question, 3)
    [result, _] = await env.answer(wrong.upper())
    item = shown_item(env, button(question, "quiz:answer:"))
    assert f"You chose **{wrong.upper()})** {item.choices[2].text}" in result.text
    assert f"The answer is **{right.upper()})** {item.choices[0].text}" in result.text


async def test_a_review_reshows_a_missed_item_in_a_new_order_and_grades_it_as_shown(env: QuizEnv) -> None:
    env.force_items("dynamic-graph-when-built")
    [question] = await env.command("/quiz")
    await env.click(choice_button(env, question, 2))
    env.clock.advance(minutes=11)
    [review] = await env.command("/review")
    assert review.title.startswith("Review 1 of 1")
    letter = shown_letter(env, review, 1)
    [result, summary] = await env.answer(letter)
    assert "✅" in result.text and f"**{letter.upper()})**" in result.text
    with env.database.session() as session:
        orders = [a.choice_order for a in session.scalars(select(QuizAttempt).order_by(QuizAttempt.id))]
        assert all(order is not None and sorted(order) == [0, 1, 2, 3] for order in orders)
