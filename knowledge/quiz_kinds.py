"""Quiz kinds as objects: each kind reads its own YAML fields, offers its answer buttons, grades an answer, and
says the right answer. They are registered by name; a kind the registry does not know is an error, never a
fallback, so an item is graded only by the kind it says it is.

A new kind is one class with these methods, added to `KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from knowledge.grading import (
    LETTERS,
    Encode,
    Grade,
    grade_choice,
    grade_free_text,
    grade_true_false,
    parse_choice,
    parse_true_false,
)
from knowledge.quiz_fields import (
    InvalidItem,
    KeyPoint,
    Misconception,
    check_not_in_prompt,
    read_choices,
    read_key_points,
    read_misconceptions,
    read_roles,
    text_field,
)

if TYPE_CHECKING:
    from knowledge.quiz_bank import QuizItem


class UnknownKind(ValueError):
    """An item names a kind no class is registered for."""


@dataclass(frozen=True)
class Option:
    """One answer a button gives: the value it sends, its text, and its letter when the options are listed."""

    value: str
    text: str
    mark: str = ""

    @property
    def label(self) -> str:
        """The button's text: "B) Its gradient" for a lettered option, the text alone otherwise."""
        return f"{self.mark}) {self.text}" if self.mark else self.text


class QuizKind(Protocol):
    """What the bank, the quiz service and the statistics need of one kind of question."""

    name: str
    fields: frozenset[str]  # YAML keys an item of this kind must have, beyond the common ones
    optional: frozenset[str]  # YAML keys it may have
    listed: bool  # its options are listed under the question, by letter
    instruction: str  # said under the question ("" for none)
    typed: bool  # answered in words, not with a button (a round has only button kinds)

    def read(self, base: QuizItem, raw: dict[str, Any]) -> QuizItem:
        """The item with this kind's fields from the raw YAML mapping; InvalidItem says what is wrong."""
        ...

    def options(self, item: QuizItem) -> tuple[Option, ...]:
        """The answers its buttons give, in the order shown."""
        ...

    def grade(self, item: QuizItem, answer: str, encode: Encode) -> Grade:
        """The verdict on a typed or button answer; InvalidAnswer when it cannot be read."""
        ...

    def said(self, item: QuizItem, answer: str) -> str:
        """What a stored answer said, in words (the choice's text, True or False); InvalidAnswer if unreadable."""
        ...

    def explain(self, item: QuizItem) -> str:
        """The right answer and why, as markdown."""
        ...


class ChoiceKind:
    """Multiple choice: lettered options, one right, each with why."""

    name = "choice"
    fields = frozenset({"choices"})
    optional: frozenset[str] = frozenset()
    listed = True
    instruction = ""
    typed = False

    def read(self, base: QuizItem, raw: dict[str, Any]) -> QuizItem:
        return replace(base, choices=read_choices(raw["choices"]))

    def options(self, item: QuizItem) -> tuple[Option, ...]:
        return tuple(Option(str(i + 1), choice.text, LETTERS[i].upper()) for i, choice in enumerate(item.choices))

    def grade(self, item: QuizItem, answer: str, encode: Encode) -> Grade:
        return grade_choice(item, answer)

    def said(self, item: QuizItem, answer: str) -> str:
        return item.choices[parse_choice(item, answer)].text

    def explain(self, item: QuizItem) -> str:
        index = item.correct_index
        return f"The answer: **{LETTERS[index].upper()})** {item.choices[index].text}\n{item.choices[index].why}"


class TrueFalseKind:
    """A statement to call true or false, with its explanation."""

    name = "true_false"
    fields = frozenset({"answer", "explanation"})
    optional: frozenset[str] = frozenset()
    listed = False
    instruction = "True or false?"
    typed = False

    def read(self, base: QuizItem, raw: dict[str, Any]) -> QuizItem:
        if not isinstance(raw["answer"], bool):
            raise InvalidItem("'answer' must be true or false")
        return replace(base, answer=raw["answer"], explanation=text_field(raw, "explanation"))

    def options(self, item: QuizItem) -> tuple[Option, ...]:
        return Option("true", "True"), Option("false", "False")

    def grade(self, item: QuizItem, answer: str, encode: Encode) -> Grade:
        return grade_true_false(item, answer)

    def said(self, item: QuizItem, answer: str) -> str:
        return "True" if parse_true_false(answer) else "False"

    def explain(self, item: QuizItem) -> str:
        return f"The answer: **{'True' if item.answer else 'False'}**. {item.explanation}"


class FreeTextKind:
    """A question answered in a sentence or two, graded against a reference and its key points."""

    name = "free_text"
    fields = frozenset({"reference", "key_points"})
    optional = frozenset({"misconceptions", "roles"})
    listed = False
    instruction = "✍️ Answer in a sentence or two: reply with your answer."
    typed = True

    def read(self, base: QuizItem, raw: dict[str, Any]) -> QuizItem:
        points = read_key_points(raw["key_points"])
        check_not_in_prompt(points, base.prompt)
        roles = read_roles(raw.get("roles"))
        wrong = read_misconceptions(raw.get("misconceptions"))
        things: tuple[KeyPoint | Misconception, ...] = (*points, *wrong)
        for thing in things:
            if thing.about is not None and thing.about not in dict(roles):
                raise InvalidItem(f"{thing.text!r} is about {thing.about!r}, which is not one of the item's roles")
        return replace(base, reference=text_field(raw, "reference"), key_points=points, misconceptions=wrong,
                       roles=roles)

    def options(self, item: QuizItem) -> tuple[Option, ...]:
        return ()

    def grade(self, item: QuizItem, answer: str, encode: Encode) -> Grade:
        return grade_free_text(item, answer, encode)

    def said(self, item: QuizItem, answer: str) -> str:
        return answer

    def explain(self, item: QuizItem) -> str:
        return f"**Model answer:** {item.reference}"


KINDS: dict[str, QuizKind] = {kind.name: kind for kind in (ChoiceKind(), TrueFalseKind(), FreeTextKind())}
# The kinds a channel round may ask: everyone answers with a button within the same window.
BUTTON_KINDS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if not kind.typed)


def kind_named(name: object) -> QuizKind:
    """The registered kind of this name; UnknownKind otherwise."""
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise UnknownKind(f"unknown kind {name!r}; expected one of {', '.join(KINDS)}")
    return kind


def kind_of(item: QuizItem) -> QuizKind:
    """The kind an item says it is."""
    return kind_named(item.kind)


def grade(item: QuizItem, answer: str, encode: Encode) -> Grade:
    """Grade an answer to any kind of item; raises InvalidAnswer when it cannot be read."""
    return kind_of(item).grade(item, answer, encode)
