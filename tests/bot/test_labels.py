"""Button labels are plain text on every platform: markdown given to a button is unwrapped in one place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.answering import answers
from bot.core.answering.knowledge import DEFAULT_DOCS
from bot.core.conversation import Button
from bot.core.learning import quizzes
from bot.core.text import plain_text
from bot.db.quiz_models import QuizSession
from knowledge.loader import load_entries
from knowledge.quiz_bank import default_quiz_paths, load_bank

MARKS = ("`", "**", "~~", "](")


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("What does `requires_grad=True` do?", "What does requires_grad=True do?"),
        ("A) `x.grad` is **None**", "A) x.grad is None"),
        ("Use `**kwargs` and `**x`", "Use **kwargs and **x"),  # code spans keep their content as written
        ("``a ` b``", "a ` b"),
        ("see [the docs](https://pytorch.org/docs)", "see the docs"),
        ("_italic_, *em* and ~~old~~", "italic, em and old"),
        ("# Heading\n> quoted\n- item", "Heading quoted item"),
        ("requires_grad and x_1 * y_2 and 2*3*4", "requires_grad and x_1 * y_2 and 2*3*4"),
        ("__init__ and snake_case_name", "__init__ and snake_case_name"),
        ("an unclosed `tick", "an unclosed tick"),
        ("plain words", "plain words"),
    ],
)
def test_plain_text_unwraps_markdown_and_spares_code(text: str, plain: str) -> None:
    assert plain_text(text) == plain
    if "`" not in plain:  # a backtick kept from inside code would be dropped the second time, as unclosed
        assert plain_text(plain) == plain


def test_a_button_given_markdown_shows_plain_text() -> None:
    button = Button("ask:entry:x", "`torch.no_grad()` or **model.eval()**?")
    assert button.label == "torch.no_grad() or model.eval()?"


def test_related_question_buttons_of_the_real_knowledge_are_plain() -> None:
    entries = load_entries([DEFAULT_DOCS])
    marked = [e for e in entries if "`" in e.question]
    assert marked, "the knowledge base has questions with code in them"
    for button in answers._related_buttons(entries):
        assert not any(mark in button.label for mark in MARKS), button.label
        assert len(button.label) <= answers.LABEL_LIMIT
    labels = {button.label for button in answers._related_buttons(entries)}
    assert "What does requires_grad=True do?" in labels


def test_quiz_answer_buttons_of_the_real_bank_are_plain() -> None:
    items = [item for item in load_bank(default_quiz_paths()).items if item.kind == "choice"]
    assert any("`" in choice.text for item in items for choice in item.choices)
    session = QuizSession(id=1, mode=quizzes.PERSONAL, item_ids=[item.id for item in items], ephemeral=False,
                          window_ends_at=None)
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    for item in items:
        reply = quizzes.render_question(session, 0, item, now=now)
        assert "`" in reply.text or not any("`" in c.text for c in item.choices)  # the message keeps markdown
        for button in reply.buttons:
            assert not any(mark in button.label for mark in MARKS), button.label
