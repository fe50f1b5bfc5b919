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
    from knowledge.quiz_bank import QuizItem
    from knowledge.quiz_fields import KeyPoint, Misconception

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
# An answer that contradicts its rubric (negates a point, swaps who does what, states a misconception) is capped
# here: below half a pass, so it reads as wrong however similar its words are to the reference.
CONTRADICTED_CAP = 0.3
# A misconception is only found in its own wording, in order, with this many other words among its words: a
# right answer often names the wrong idea in passing ("adding your own softmax applies it twice").
MISCONCEPTION_SLACK = 2
# Below this an answer that makes one point is a lucky keyword ("they load and save weights"), not half an answer.
PARTIAL_FLOOR = 0.3
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
# Words that flip what a clause says. "none" is not one: `grad_fn is None` is a fact, not a negation.
NEGATIONS = frozenset(
    "not no never neither nor cannot cant dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt "
    "couldnt hasnt havent hadnt without instead rather nothing".split()
)
# A clause starts after one of these (or a comma): a negation before it does not reach the words after it.
_CLAUSE_WORDS = frozenset("but while whereas although though however and so because which unlike".split())
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")
_CHUNK_SPLIT = re.compile(r"[,:()\u2014]|\s-\s")
# How far back from a point's words a negation still applies to them ("does not really build ...").
NEGATION_REACH = 6
# A wording's words must sit this close together (beyond their own number) to be read as said against the
# point; scattered across a long sentence they may still count for it, but prove nothing against it.
TIGHT_SLACK = 3
_STOPWORDS = frozenset(
    "a an the and or but of to in on at for by with from as is are was were be been being it its this that "
    "these those there their they them you your can could will would should may might do does did not no "
    "so such than then into onto about over under which who what when where why how also just very more "
    "most any all each every some one".split()
) | NEGATIONS


class InvalidAnswer(ValueError):
    """The answer cannot be graded: it is not one of the accepted forms, empty, or too long."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Grade:
    """The verdict on one answer: right or not, a 0-1 score, markdown feedback, and the points left out.

    `verdict` is "right", "partial" (some points made, none contradicted, not enough to pass) or "wrong";
    `contradictions` names what a wrong answer asserted against the rubric.
    """

    correct: bool
    score: float
    feedback: str
    missing_points: tuple[str, ...] = ()
    contradictions: tuple[str, ...] = ()
    verdict: str = ""

    def __post_init__(self) -> None:
        if not self.verdict:
            object.__setattr__(self, "verdict", "right" if self.correct else "wrong")


def normalise_answer(text: str) -> str:
    """Fold case, width, smart quotes and punctuation so equal answers compare equal."""
    text = _APOSTROPHE.sub("", fold_text(text).casefold())
    # Underscores stay: `requires_grad` and `from_numpy` are one word to a PyTorch learner.
    text = "".join(" " if unicodedata.category(char)[0] in "PSC" and char != "_" else char for char in text)
    return " ".join(text.split())


def fold_text(text: str) -> str:
    """NFKC with curly quotes made straight: how a phone's keyboard and a desktop's spell the same answer."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES)


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


def grade_choice(item: QuizItem, answer: str) -> Grade:
    """A choice answer: right or not, with why the picked choice (and the right one) is so."""
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


def grade_true_false(item: QuizItem, answer: str) -> Grade:
    """A true/false answer: right or not, with the explanation."""
    said = parse_true_false(answer)
    truth = "true" if item.answer else "false"
    if said == item.answer:
        return Grade(True, 1.0, _clip(f"✅ **Correct!** It's {truth}.\n{item.explanation}"))
    return Grade(False, 0.0, _clip(f"❌ **Not quite.** It's {truth}.\n{item.explanation}"))


# --- free text ----------------------------------------------------------------------------------------------


def grade_free_text(item: QuizItem, answer: str, encode: Encode) -> Grade:
    """Read the answer against the item's rubric, then mix similarity to the reference with the points made.

    A point counts when the answer says it (in its words or by meaning) of the right subject and not negated;
    saying it negated, or of the other subject, or stating a misconception, makes the answer wrong.
    """
    text = _readable_free_text(answer)
    reading = _read(item, text, encode)
    coverage = sum(reading.covered) / len(reading.covered)
    scaled = min(1.0, max(0.0, (reading.similarity - SIM_FLOOR) / (SIM_CEIL - SIM_FLOOR)))
    score = round(SIM_WEIGHT * scaled + COVERAGE_WEIGHT * coverage, 3)
    missing = tuple(point.text for point, hit in zip(item.key_points, reading.covered, strict=True) if not hit)
    if reading.contradictions:
        score, verdict = min(score, CONTRADICTED_CAP), "wrong"
    elif score >= PASS_SCORE and coverage > MIN_COVERAGE:
        verdict = "right"
    else:
        verdict = "partial" if coverage > 0 and score >= PARTIAL_FLOOR else "wrong"
    feedback = _free_text_feedback(item, verdict, score, missing, reading.contradictions)
    return Grade(verdict == "right", score, feedback, missing, tuple(c.text for c in reading.contradictions), verdict)


def _readable_free_text(answer: str) -> str:
    """The folded answer, or InvalidAnswer when it is empty or too long."""
    text = fold_text(answer).strip()
    if not normalise_answer(text):
        raise InvalidAnswer("empty answer: write a sentence or two")
    if len(text) > MAX_ANSWER_CHARS:
        raise InvalidAnswer(f"answer too long: keep it under {MAX_ANSWER_CHARS:,} characters")
    return text


# --- reading a free-text answer against its rubric ---------------------------------------------------------


@dataclass(frozen=True)
class _Sentence:
    """One sentence (or clause) of an answer: its words, their stems, and where each clause starts."""

    words: tuple[str, ...]
    stems: tuple[str, ...]
    clause_starts: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> _Sentence:
        words: list[str] = []
        starts: list[int] = []
        for chunk in _CHUNK_SPLIT.split(text):
            starts.append(len(words))
            for word in normalise_answer(chunk).split():
                if word in _CLAUSE_WORDS:
                    starts.append(len(words) + 1)
                words.append(word)
        return cls(tuple(words), tuple(stem(w) for w in words), tuple(sorted(set(starts))))

    def negated(self, start: int, end: int) -> bool:
        """Whether an odd number of negations govern the words from `start` to `end`, within their clause."""
        clause = max((first for first in self.clause_starts if first <= start), default=0)
        first = max(clause, start - NEGATION_REACH)
        return sum(word in NEGATIONS for word in self.words[first:end + 1]) % 2 == 1

    def span(self, wanted: set[str]) -> tuple[int, int] | None:
        """The shortest stretch holding every wanted stem, if they all occur."""
        if not wanted <= set(self.stems):
            return None
        best: tuple[int, int] | None = None
        for start, word in enumerate(self.stems):
            if word not in wanted:
                continue
            missing, end = set(wanted) - {word}, start
            while missing and end + 1 < len(self.stems):
                end += 1
                missing.discard(self.stems[end])
            if not missing and (best is None or end - start < best[1] - best[0]):
                best = (start, end)
        return best

    def in_order(self, wanted: list[str], slack: int) -> tuple[int, int] | None:
        """Where the wanted stems occur in this order, with at most `slack` other words among them."""
        for start, word in enumerate(self.stems):
            if word != wanted[0]:
                continue
            position, found = start, True
            for following in wanted[1:]:
                try:
                    position = self.stems.index(following, position + 1)
                except ValueError:
                    found = False
                    break
            if found and position - start + 1 - len(wanted) <= slack:
                return start, position
        return None


@dataclass(frozen=True)
class _Contradiction:
    """Something the answer asserts against the rubric, and why it is wrong."""

    text: str
    reason: str


@dataclass(frozen=True)
class _Reading:
    similarity: float
    covered: list[bool]
    contradictions: tuple[_Contradiction, ...]


@dataclass
class _Claims:
    """What an answer says of one point or misconception: said as meant, and/or said against it."""

    supports: bool = False
    opposes: str | None = None  # why, when the answer negates it or says it of the other role


class _Roles:
    """Where an answer names each of the item's roles, so a point's words are tied to what they are said of."""

    def __init__(self, item: QuizItem) -> None:
        self.terms = sorted(((tuple(stem(w) for w in words.split()), role) for role, names in item.roles
                             for words in names), key=lambda term: -len(term[0]))
        self.labels = {role: names[0] for role, names in item.roles}
        self.stems = {word for term, _ in self.terms for word in term}

    def mentions(self, sentence: _Sentence) -> list[tuple[int, str]]:
        """(position, role) of each role named in the sentence, longest wording first ("non leaf" over "leaf")."""
        found: list[tuple[int, str]] = []
        position = 0
        while position < len(sentence.stems):
            term, role = next(((term, role) for term, role in self.terms
                               if sentence.stems[position:position + len(term)] == term), ((), ""))
            if term:
                found.append((position, role))
            position += max(1, len(term))
        return found

    def of(self, mentions: list[list[tuple[int, str]]], index: int, start: int, end: int) -> str | None:
        """The role the words at start..end of sentence `index` are said of: the nearest one named before them
        in the sentence, else after them, else the last one named in an earlier sentence."""
        before = [role for position, role in mentions[index] if position < start]
        after = [role for position, role in mentions[index] if position > end]
        earlier = [role for sentence in mentions[:index] for _, role in sentence]
        return next(iter(before[-1:] or after[:1] or earlier[-1:]), None)


def _read(item: QuizItem, text: str, encode: Encode) -> _Reading:
    """Cosine to the reference, the key points the answer makes, and what it says against the rubric."""
    sentences = [_Sentence.parse(part) for part in _SENTENCE_SPLIT.split(text) if normalise_answer(part)]
    roles = _Roles(item)
    mentions = [roles.mentions(sentence) for sentence in sentences]
    points = [_by_words(point, sentences, roles, mentions) for point in item.key_points]
    # Misconceptions by their wording only: MiniLM reads "dropout is disabled" as close to "dropout stays active".
    wrongs = [_by_words(wrong, sentences, roles, mentions, ordered=True) for wrong in item.misconceptions]
    # Only what its words left undecided needs the model, which keeps a right answer cheap.
    variants = [(claims, point, phrase) for claims, point in zip(points, item.key_points, strict=True)
                if not (claims.supports or claims.opposes) for phrase in _phrases(point)]
    units = _units(text) if variants else [text]
    vectors = encode([item.reference, *units, *(phrase for _, _, phrase in variants)])
    unit_vectors, phrase_vectors = vectors[1:1 + len(units)], vectors[1 + len(units):]
    clauses = [_Sentence.parse(unit) for unit in units[1:]]
    for (claims, point, phrase), row in zip(variants, phrase_vectors @ unit_vectors.T, strict=True):
        for clause, similarity in zip(clauses, row[1:], strict=True):
            if float(similarity) >= POINT_SIM:
                named = roles.mentions(clause)
                _judge(claims, point, _negative(phrase), clause.negated(0, len(clause.words)),
                       named[0][1] if named else None, roles)
    contradictions = [_Contradiction(point.text, claims.opposes) for point, claims in
                      zip(item.key_points, points, strict=True) if claims.opposes and not claims.supports]
    contradictions += [_Contradiction(wrong.text, wrong.why) for wrong, claims in
                       zip(item.misconceptions, wrongs, strict=True) if claims.supports]
    # units[0] is the whole answer, so its row doubles as the answer's own vector.
    return _Reading(max(0.0, float(vectors[0] @ unit_vectors[0])), [claims.supports for claims in points],
                    tuple(contradictions))


def _by_words(point: KeyPoint | Misconception, sentences: list[_Sentence], roles: _Roles,
              mentions: list[list[tuple[int, str]]], ordered: bool = False) -> _Claims:
    """Every sentence that says the point in one of its wordings (in order, when `ordered`), judged for
    negation and role."""
    claims = _Claims()
    for phrase in _phrases(point):
        # With a role, the role's own words are left to the role check: "compiled first" of whichever graph.
        skip = roles.stems if point.about else set()
        words = [stem(w) for w in normalise_answer(phrase).split() if w not in _STOPWORDS and stem(w) not in skip]
        for index, sentence in enumerate(sentences):
            if not words:
                break
            span = sentence.in_order(words, MISCONCEPTION_SLACK) if ordered else sentence.span(set(words))
            if span is not None:
                tight = span[1] - span[0] + 1 <= len(words) + TIGHT_SLACK
                _judge(claims, point, _negative(phrase), sentence.negated(*span),
                       roles.of(mentions, index, *span), roles, against=tight)
    return claims


def _negative(phrase: str) -> bool:
    return sum(word in NEGATIONS for word in normalise_answer(phrase).split()) % 2 == 1


def _judge(claims: _Claims, point: KeyPoint | Misconception, phrase_negative: bool, negated: bool,
           role: str | None, roles: _Roles, against: bool = True) -> None:
    """Record one place the answer uses a point's wording: it supports the point, opposes it (only when
    `against`: the words were close enough to be one claim), or neither."""
    other_role = point.about is not None and role is not None and role != point.about
    if phrase_negative:
        # A wording that is itself negative ("not stored") counts only when the answer says it negatively too:
        # its positive form turns up in right answers about something else ("the op that produced it").
        claims.supports = claims.supports or (negated and not other_role)
        return
    if other_role and negated:
        claims.supports = True  # "NumPy can't run on a GPU", asked about tensors: the contrast holds
    elif (other_role or negated) and not against:
        return
    elif other_role:
        assert point.about is not None and role is not None
        claims.opposes = f"that is true of {roles.labels[point.about]}, not of {roles.labels[role]}"
    elif negated:
        claims.opposes = "your answer says the opposite"
    else:
        claims.supports = True


def _phrases(point: KeyPoint | Misconception) -> list[str]:
    return [point.text, *point.synonyms]


def _units(text: str) -> list[str]:
    """The whole answer and its sentences and clauses, so a point is matched against one idea at a time."""
    parts = [part.strip() for part in _UNIT_SPLIT.split(text) if part and normalise_answer(part)]
    return [text, *parts[:MAX_UNITS]]


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


def _free_text_feedback(item: QuizItem, verdict: str, score: float, missing: tuple[str, ...],
                        contradictions: tuple[_Contradiction, ...]) -> str:
    percent = f"{score:.0%}"
    heads = {"right": f"✅ **Well answered** ({percent})." if not missing else
             f"✅ **Good answer** ({percent}), but it could say more.",
             "partial": f"🟡 **Partly there** ({percent}).", "wrong": f"❌ **Not quite** ({percent})."}
    lines = [heads[verdict]]
    lines += [f"⚠️ *{wrong.text}*: {wrong.reason}." for wrong in contradictions]
    if missing and not contradictions:
        lines.append("Points to add:\n" + "\n".join(f"- {point}" for point in missing))
    lines.append(f"**Model answer:** {item.reference}")
    return _clip("\n".join(lines))


def _clip(text: str, limit: int = FEEDBACK_CHARS) -> str:
    """Keep a reply within one chat message."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
