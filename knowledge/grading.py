"""Grading a learner's answer to a quiz item: parse it, score it, and say why in a chat-sized reply."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from knowledge.quiz_bank import KeyPoint, QuizItem

Encode = Callable[[list[str]], np.ndarray]

MAX_ANSWER_CHARS = 2_000
FEEDBACK_CHARS = 1_500
# MiniLM cosine to the reference: ~0.2 for an unrelated PyTorch sentence, 0.7+ for a close paraphrase.
SIM_FLOOR, SIM_CEIL = 0.2, 0.7
# Points decide more than overall similarity: a wrong answer on the right topic still reaches a cosine of
# 0.6-0.7, and a right one in unusual words can fall below 0.3.
SIM_WEIGHT, COVERAGE_WEIGHT = 0.3, 0.7
# Only a near-restatement of a point counts without its words: a clause on the same subject that says
# something else reaches 0.6-0.76 ("its grad_fn is None" against "grad_fn is the operation that produced it").
POINT_SIM = 0.8
PASS_SCORE = 0.65
# A fluent answer still has to make most of the points: one of two is half an answer, not a pass.
MIN_COVERAGE = 0.5
MAX_UNITS = 40

TRUE_WORDS = frozenset({"true", "t", "yes", "y"})
FALSE_WORDS = frozenset({"false", "f", "no", "n"})
LETTERS = string.ascii_lowercase

_QUOTES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
})
_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_LABEL_PREFIX = re.compile(r"^(?:option|choice|answer|letter|number)\s+")
_UNIT_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\n+|,\s+|\s+(?:and|but|while|whereas|so)\s+")
_STOPWORDS = frozenset(
    "a an the and or but of to in on at for by with from as is are was were be been being it its this that "
    "these those there their they them you your can could will would should may might do does did not no "
    "so such than then into onto about over under which who what when where why how also just very more "
    "most any all each every some one".split()
)


class InvalidAnswer(ValueError):
    """The answer cannot be graded: it is not one of the accepted forms, empty, or too long."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Grade:
    """The verdict on one answer: right or not, a 0-1 score, markdown feedback, and the points left out."""

    correct: bool
    score: float
    feedback: str
    missing_points: tuple[str, ...] = ()


def normalise_answer(text: str) -> str:
    """Fold case, width, smart quotes and punctuation so equal answers compare equal."""
    text = _APOSTROPHE.sub("", fold_text(text).casefold())
    # Underscores stay: `requires_grad` and `from_numpy` are one word to a PyTorch learner.
    text = "".join(" " if unicodedata.category(char)[0] in "PSC" and char != "_" else char for char in text)
    return " ".join(text.split())


def fold_text(text: str) -> str:
    """NFKC with curly quotes made straight: how a phone's keyboard and a desktop's spell the same answer."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


def grade(item: QuizItem, answer: str, encode: Encode) -> Grade:
    """Grade an answer to any kind of item; raises InvalidAnswer when it cannot be read."""
    if item.kind == "choice":
        return _grade_choice(item, answer)
    if item.kind == "true_false":
        return _grade_true_false(item, answer)
    return _grade_free_text(item, answer, encode)


# --- choice and true/false ---------------------------------------------------------------------------------


def parse_choice(item: QuizItem, answer: str) -> int:
    """The 0-based choice an answer names: a number from 1, a letter, or the choice's text."""
    text = normalise_answer(answer)
    texts = [normalise_answer(choice.text) for choice in item.choices]
    if not text:
        raise InvalidAnswer("empty answer: reply with a choice number, letter or text")
    # Text first: the bank refuses choice texts that look like a label, so this cannot shadow one.
    if text in texts:
        return texts.index(text)
    head, _, rest = _LABEL_PREFIX.sub("", text).partition(" ")
    index = _label_index(head, len(texts))
    if index is not None and (not rest or rest == texts[index]):
        return index
    last = LETTERS[len(texts) - 1]
    raise InvalidAnswer(f"not one of the choices: reply with 1-{len(texts)}, a-{last}, or the choice's text")


def _label_index(label: str, count: int) -> int | None:
    """A 1-based number or a letter, as a 0-based index within `count`."""
    if label.isdigit() and 1 <= int(label) <= count:
        return int(label) - 1
    if len(label) == 1 and label in LETTERS[:count]:
        return LETTERS.index(label)
    return None


def _grade_choice(item: QuizItem, answer: str) -> Grade:
    picked, right = parse_choice(item, answer), item.correct_index
    chosen = item.choices[picked]
    if picked == right:
        return Grade(True, 1.0, _clip(f"✅ **Correct!** {_label(item, right)}\n{chosen.why}"))
    feedback = (f"❌ **Not quite.** You chose {_label(item, picked)}\n{chosen.why}\n\n"
                f"The answer is {_label(item, right)}\n{item.choices[right].why}")
    return Grade(False, 0.0, _clip(feedback))


def _label(item: QuizItem, index: int) -> str:
    return f"**{LETTERS[index].upper()})** {item.choices[index].text}"


def parse_true_false(answer: str) -> bool:
    """True or False from true/false/t/f/yes/no/y/n in any case or punctuation."""
    text = normalise_answer(answer)
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise InvalidAnswer("reply with true or false (or yes/no)")


def _grade_true_false(item: QuizItem, answer: str) -> Grade:
    said = parse_true_false(answer)
    truth = "true" if item.answer else "false"
    if said == item.answer:
        return Grade(True, 1.0, _clip(f"✅ **Correct!** It's {truth}.\n{item.explanation}"))
    return Grade(False, 0.0, _clip(f"❌ **Not quite.** It's {truth}.\n{item.explanation}"))


# --- free text ----------------------------------------------------------------------------------------------


def _grade_free_text(item: QuizItem, answer: str, encode: Encode) -> Grade:
    """Mix similarity to the reference with the share of key points the answer covers."""
    text = _readable_free_text(answer)
    similarity, covered = _compare(item, text, encode)
    coverage = sum(covered) / len(covered)
    scaled = min(1.0, max(0.0, (similarity - SIM_FLOOR) / (SIM_CEIL - SIM_FLOOR)))
    score = round(SIM_WEIGHT * scaled + COVERAGE_WEIGHT * coverage, 3)
    missing = tuple(point.text for point, hit in zip(item.key_points, covered, strict=True) if not hit)
    correct = score >= PASS_SCORE and coverage > MIN_COVERAGE
    return Grade(correct, score, _free_text_feedback(item, correct, score, missing), missing)


def _readable_free_text(answer: str) -> str:
    """The folded answer, or InvalidAnswer when it is empty or too long."""
    text = fold_text(answer).strip()
    if not normalise_answer(text):
        raise InvalidAnswer("empty answer: write a sentence or two")
    if len(text) > MAX_ANSWER_CHARS:
        raise InvalidAnswer(f"answer too long: keep it under {MAX_ANSWER_CHARS:,} characters")
    return text


def _compare(item: QuizItem, text: str, encode: Encode) -> tuple[float, list[bool]]:
    """Cosine to the reference, and for each key point whether the answer makes it (in words or meaning)."""
    stems = content_stems(text)
    covered = [any(_mentions(stems, phrase) for phrase in _phrases(point)) for point in item.key_points]
    # Only points not already found by their words need the model, which keeps a right answer cheap.
    variants = [(i, phrase) for i, point in enumerate(item.key_points) if not covered[i]
                for phrase in _phrases(point)]
    units = _units(text) if variants else [text]
    vectors = encode([item.reference, *units, *(phrase for _, phrase in variants)])
    unit_vectors, variant_vectors = vectors[1:1 + len(units)], vectors[1 + len(units):]
    for (i, _), best in zip(variants, (variant_vectors @ unit_vectors.T).max(axis=1, initial=-1.0), strict=True):
        covered[i] = covered[i] or float(best) >= POINT_SIM
    # units[0] is the whole answer, so its row doubles as the answer's own vector.
    return max(0.0, float(vectors[0] @ unit_vectors[0])), covered


def _phrases(point: KeyPoint) -> list[str]:
    return [point.text, *point.synonyms]


def _units(text: str) -> list[str]:
    """The whole answer and its sentences and clauses, so a point is matched against one idea at a time."""
    parts = [part.strip() for part in _UNIT_SPLIT.split(text) if part and normalise_answer(part)]
    return [text, *parts[:MAX_UNITS]]


def _mentions(stems: set[str], phrase: str) -> bool:
    """Every content word of the phrase appears in the answer, after light stemming."""
    words = content_stems(phrase)
    return bool(words) and words <= stems


def content_stems(text: str) -> set[str]:
    """The stemmed words of a text that carry meaning, stop words left out."""
    return {stem(word) for word in normalise_answer(text).split() if word not in _STOPWORDS}


_SUFFIXES = (
    ("ational", "ate"), ("ization", "ize"), ("isation", "ize"), ("ations", ""), ("ation", ""), ("ities", ""),
    ("ity", ""), ("ions", ""), ("ion", ""), ("ness", ""), ("ments", ""), ("ment", ""), ("ingly", ""),
    ("edly", ""), ("ings", ""), ("ing", ""), ("ies", "y"), ("ied", "y"), ("ed", ""), ("ly", ""), ("ers", ""),
    ("er", ""),
)


def stem(word: str) -> str:
    """A light suffix-stripper: enough to match 'gradients'/'gradient' and 'computing'/'compute'."""
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    else:
        word = _strip_plural(word)
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def _strip_plural(word: str) -> str:
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def _free_text_feedback(item: QuizItem, correct: bool, score: float, missing: tuple[str, ...]) -> str:
    percent = f"{score:.0%}"
    if correct and not missing:
        head = f"✅ **Well answered** ({percent})."
    elif correct:
        head = f"✅ **Good answer** ({percent}), but it could say more."
    elif score >= PASS_SCORE / 2:
        head = f"🟡 **Partly there** ({percent})."
    else:
        head = f"❌ **Not quite** ({percent})."
    lines = [head]
    if missing:
        lines.append("Points to add:\n" + "\n".join(f"- {point}" for point in missing))
    lines.append(f"**Model answer:** {item.reference}")
    return _clip("\n".join(lines))


def _clip(text: str, limit: int = FEEDBACK_CHARS) -> str:
    """Keep a reply within one chat message."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
