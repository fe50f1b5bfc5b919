"""The fields of an authored quiz item as YAML gives them, checked: choices, key points, misconceptions, roles.

Each reader returns the field's value or raises InvalidItem saying what is wrong, for the bank to report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from knowledge.grading import NEGATIONS, content_stems, normalise_answer

MIN_CHOICES, MAX_CHOICES = 2, 6
MIN_KEY_POINTS, MAX_KEY_POINTS = 2, 5
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_BARE_LABEL = re.compile(r"^(?:\d+|[a-z])$")


class InvalidItem(Exception):
    """An authored item that cannot be used, with the reason."""


@dataclass(frozen=True)
class Choice:
    """One option of a multiple-choice item, with why it is right or wrong."""

    text: str
    correct: bool
    why: str = ""


@dataclass(frozen=True)
class KeyPoint:
    """A short idea a free-text answer should contain, with other ways to say it.

    `about` names the role (one of the item's `roles`) the point is true of, so an answer that says it of the
    other role ("a *dynamic* graph is compiled first") is caught as a swap rather than counted.
    """

    text: str
    synonyms: tuple[str, ...] = ()
    about: str | None = None


@dataclass(frozen=True)
class Misconception:
    """A wrong idea that makes a free-text answer wrong however much else it gets right, with why it is wrong."""

    text: str
    synonyms: tuple[str, ...] = ()
    why: str = ""
    about: str | None = None


def is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def text_field(raw: dict[str, Any], key: str) -> str:
    """A required non-empty string field, stripped."""
    value = raw.get(key)
    if not is_text(value):
        raise InvalidItem(f"'{key}' must be a non-empty string")
    return str(value).strip()


def read_choices(raw: Any) -> tuple[Choice, ...]:
    """2-6 distinct choices, exactly one correct, each with its why."""
    if not isinstance(raw, list) or not MIN_CHOICES <= len(raw) <= MAX_CHOICES:
        raise InvalidItem(f"'choices' must be a list of {MIN_CHOICES}-{MAX_CHOICES} choices")
    choices = tuple(_choice(value, number) for number, value in enumerate(raw, start=1))
    correct = sum(choice.correct for choice in choices)
    if correct != 1:
        raise InvalidItem(f"exactly one choice must be correct, found {correct}")
    texts = [normalise_answer(choice.text) for choice in choices]
    if len(set(texts)) != len(texts):
        raise InvalidItem("two choices have the same text")
    for text in texts:
        if _BARE_LABEL.match(text):
            raise InvalidItem(f"choice text {text!r} could be mistaken for a choice number or letter")
    return choices


def _choice(raw: Any, number: int) -> Choice:
    if not isinstance(raw, dict) or set(raw) != {"text", "correct", "why"}:
        raise InvalidItem(f"choice {number} must have exactly 'text', 'correct' and 'why'")
    if not isinstance(raw["correct"], bool):
        raise InvalidItem(f"choice {number}: 'correct' must be true or false")
    return Choice(text=text_field(raw, "text"), correct=raw["correct"], why=text_field(raw, "why"))


def read_key_points(raw: Any) -> tuple[KeyPoint, ...]:
    """2-5 points, each a phrase or a mapping with `point` and optional `synonyms`."""
    if not isinstance(raw, list) or not MIN_KEY_POINTS <= len(raw) <= MAX_KEY_POINTS:
        raise InvalidItem(f"'key_points' must be a list of {MIN_KEY_POINTS}-{MAX_KEY_POINTS} points")
    return tuple(_checked_point(_key_point(value, n), n) for n, value in enumerate(raw, start=1))


def _key_point(raw: Any, number: int) -> KeyPoint:
    if is_text(raw):
        return KeyPoint(raw.strip())
    if not isinstance(raw, dict) or "point" not in raw or not set(raw) <= {"point", "synonyms", "about"}:
        raise InvalidItem(f"key point {number} must be a phrase or have 'point' and optional 'synonyms' and 'about'")
    return KeyPoint(text_field(raw, "point"), _phrase_list(raw, f"key point {number}"), _about(raw, number))


def _phrase_list(raw: dict[str, Any], what: str) -> tuple[str, ...]:
    synonyms = raw.get("synonyms") or []
    if not isinstance(synonyms, list) or not all(is_text(s) for s in synonyms):
        raise InvalidItem(f"{what}: 'synonyms' must be a list of phrases")
    return tuple(s.strip() for s in synonyms)


def _about(raw: dict[str, Any], number: int) -> str | None:
    about = raw.get("about")
    if about is not None and not (isinstance(about, str) and SLUG.match(about)):
        raise InvalidItem(f"point {number}: 'about' must name one of the item's roles")
    return about


def read_misconceptions(raw: Any) -> tuple[Misconception, ...]:
    """Optional wrong ideas: each a mapping with `point`, `why`, and optional `synonyms` and `about`."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidItem("'misconceptions' must be a list")
    found = []
    for number, value in enumerate(raw, start=1):
        if not isinstance(value, dict) or not {"point", "why"} <= set(value) <= {"point", "synonyms", "why", "about"}:
            raise InvalidItem(f"misconception {number} must have 'point' and 'why', and optional 'synonyms' and "
                              "'about'")
        wrong = Misconception(text_field(value, "point"), _phrase_list(value, f"misconception {number}"),
                              text_field(value, "why"), _about(value, number))
        for phrase in (wrong.text, *wrong.synonyms):
            if not content_stems(phrase):
                raise InvalidItem(f"misconception {number}: {phrase!r} has only stop words and would match any answer")
            if NEGATIONS & set(normalise_answer(phrase).split()):
                # "no gradients" would be found in "it does not stop gradients", the right answer.
                raise InvalidItem(f"misconception {number}: say {phrase!r} without a negation")
        found.append(wrong)
    return tuple(found)


def read_roles(raw: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Optional `{role: [word or phrase]}`: at least two roles, each named by some words, no word shared."""
    if raw is None:
        return ()
    if not isinstance(raw, dict) or len(raw) < 2:
        raise InvalidItem("'roles' must map at least two role names to the words that name them")
    roles: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for name, words in raw.items():
        if not (isinstance(name, str) and SLUG.match(name)) or not isinstance(words, list) or not words or \
                not all(is_text(w) for w in words):
            raise InvalidItem(f"role {name!r} must be a slug with a list of words that name it")
        folded = tuple(normalise_answer(w) for w in words)
        if seen & set(folded):
            raise InvalidItem(f"role {name!r} shares a word with another role")
        seen.update(folded)
        roles.append((name, folded))
    return tuple(roles)


def check_not_in_prompt(points: tuple[KeyPoint, ...], prompt: str) -> None:
    """A phrase whose words are all in the prompt is covered by any answer that repeats the question."""
    asked = content_stems(prompt)
    for number, point in enumerate(points, start=1):
        for phrase in (point.text, *point.synonyms):
            if content_stems(phrase) <= asked:
                raise InvalidItem(f"key point {number}: {phrase!r} only repeats words of the prompt")


def _checked_point(point: KeyPoint, number: int) -> KeyPoint:
    """Every phrase must keep a word after stop words are dropped, or it would match any answer."""
    for phrase in (point.text, *point.synonyms):
        if not content_stems(phrase):
            raise InvalidItem(f"key point {number}: {phrase!r} has only stop words and would match any answer")
    return point

