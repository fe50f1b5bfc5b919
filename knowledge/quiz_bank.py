"""Quiz items: authored ones loaded from YAML, and multiple-choice ones generated from knowledge entries."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from knowledge.entries import Entry
from knowledge.grading import Encode, normalise_answer
from knowledge.quiz_fields import SLUG, Choice, InvalidItem, KeyPoint, Misconception, text_field
from knowledge.quiz_kinds import QuizKind, UnknownKind, kind_named

log = logging.getLogger(__name__)

GENERATED_PREFIX = "gen-"
GENERATED_DISTRACTORS = 3
# Neighbours this close are near-duplicates whose answer could also be right, so they make unfair distractors.
NEAR_DUPLICATE = 0.92
# Distractors are sampled from this many nearest entries, so a seed varies them while keeping them plausible.
NEIGHBOUR_POOL = 6
SUMMARY_CHARS = 220
SUMMARY_MIN_CHARS = 60

_COMMON = {"id", "entry", "topic", "kind", "prompt", "difficulty"}


@dataclass(frozen=True)
class QuizItem:
    """One quiz question about a knowledge entry; the fields used depend on `kind`."""

    id: str
    entry: str
    topic: str
    kind: str  # the name of a registered kind (`knowledge.quiz_kinds`), which reads, shows and grades it
    prompt: str
    choices: tuple[Choice, ...] = ()
    answer: bool | None = None
    explanation: str = ""
    reference: str = ""
    key_points: tuple[KeyPoint, ...] = ()
    misconceptions: tuple[Misconception, ...] = ()
    # Who or what an answer talks about (e.g. static vs dynamic graphs), each with the words that name it.
    roles: tuple[tuple[str, tuple[str, ...]], ...] = ()
    difficulty: int = 2
    generated: bool = False
    source: str = ""

    @property
    def correct_index(self) -> int:
        """The 0-based index of the right choice; -1 for items that are not multiple choice."""
        return next((i for i, choice in enumerate(self.choices) if choice.correct), -1)


@dataclass(frozen=True)
class BankWarning:
    """Why one item (or a whole file) was skipped."""

    path: str
    message: str
    item: str | None = None
    index: int | None = None

    def __str__(self) -> str:
        where = self.path
        if self.index is not None:
            where += f" item #{self.index + 1}"
        if self.item:
            where += f" ({self.item})"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class FileReport:
    """The items one YAML file gave and the warnings it raised."""

    path: str
    items: tuple[QuizItem, ...] = ()
    warnings: tuple[BankWarning, ...] = ()


@dataclass(frozen=True)
class BankReport:
    """Every loaded item, with the warnings grouped by file."""

    files: tuple[FileReport, ...] = ()
    _by_id: dict[str, QuizItem] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update((item.id, item) for item in self.items)

    @property
    def items(self) -> tuple[QuizItem, ...]:
        """All valid items, in file order."""
        return tuple(item for report in self.files for item in report.items)

    @property
    def warnings(self) -> tuple[BankWarning, ...]:
        """All warnings, in file order."""
        return tuple(warning for report in self.files for warning in report.warnings)

    def get(self, item_id: str) -> QuizItem | None:
        """The item with this id, if any."""
        return self._by_id.get(item_id)

    def for_entry(self, entry_id: str) -> tuple[QuizItem, ...]:
        """The items that test one knowledge entry."""
        return tuple(item for item in self.items if item.entry == entry_id)



def shuffled_order(item: QuizItem, rng: random.Random) -> list[int] | None:
    """A random order to show a choice item's choices in (indexes into `item.choices`); None for other kinds."""
    if not item.choices:
        return None
    order = list(range(len(item.choices)))
    rng.shuffle(order)
    return order


def presented(item: QuizItem, order: Sequence[int] | None) -> QuizItem:
    """The item as shown: its choices in `order`, so letters, buttons and grading all follow what was seen.

    No order (a session from before shuffling, or a kind without choices) shows the authored order; an order
    that does not fit the item (the bank changed under a stored session) does too, rather than a wrong letter.
    """
    if not item.choices or not order or sorted(order) != list(range(len(item.choices))):
        return item
    return replace(item, choices=tuple(item.choices[i] for i in order))

# The YAML format, one file per topic:
#   topic: autograd                      # default for the file's items
#   items:
#     - id: stable-slug                  # never starts with "gen-"
#       entry: knowledge-entry-id
#       topic: autograd                  # optional here, required somewhere
#       kind: choice | true_false | free_text
#       prompt: ...
#       difficulty: 1 | 2 | 3            # optional, default 2
#       choices: [{text, correct, why}]  # choice: 2-6, exactly one correct
#       answer: true | false             # true_false, with
#       explanation: ...
#       reference: model answer          # free_text, with
#       key_points: [phrase | {point, synonyms: [phrase], about: role}]  # 2-5: the rubric's points
#       misconceptions: [{point, synonyms: [phrase], why, about: role}]  # optional: ideas that make it wrong
#       roles: {role: [word or phrase]}  # optional: what an answer talks about, for `about` (catches swaps)
# Unknown keys are refused rather than ignored, since they are almost always typos.


def default_quiz_paths() -> list[Path]:
    """The package's quiz directory, `knowledge/quizzes`."""
    return [Path(__file__).resolve().parent / "quizzes"]


def load_bank(paths: Iterable[str | Path], known_entry_ids: set[str] | None = None) -> BankReport:
    """Load YAML quiz files (or directories of them); bad items are reported and skipped, but an item of an unknown
    kind raises UnknownKind naming its file and item."""
    seen: set[str] = set()
    reports = [_load_file(path, known_entry_ids, seen) for path in _yaml_files(paths)]
    for report in reports:
        for warning in report.warnings:
            log.warning("quiz bank: %s", warning)
    return BankReport(files=tuple(reports))


def _yaml_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories into their sorted .yaml/.yml files."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"}))
        else:
            files.append(path)
    return files


def _load_file(path: Path, known: set[str] | None, seen: set[str]) -> FileReport:
    """Parse one file into items and warnings; `seen` carries ids across files to catch duplicates."""
    name = str(path)
    try:
        default_topic, raw_items = _split_file(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return FileReport(name, warnings=(BankWarning(name, f"cannot read file: {exc}"),))
    except InvalidItem as exc:
        return FileReport(name, warnings=(BankWarning(name, str(exc)),))
    items: list[QuizItem] = []
    warnings: list[BankWarning] = []
    for index, raw in enumerate(raw_items):
        try:
            item = _parse_item(raw, default_topic, name, known)
            if item.id in seen:
                raise InvalidItem(f"duplicate id {item.id!r}")
        except InvalidItem as exc:
            warnings.append(BankWarning(name, str(exc), _raw_id(raw), index))
            continue
        except UnknownKind as exc:  # not skipped: an item of a kind nobody can grade is a broken bank
            raise UnknownKind(str(BankWarning(name, str(exc), _raw_id(raw), index))) from None
        seen.add(item.id)
        items.append(item)
    return FileReport(name, tuple(items), tuple(warnings))


def _raw_id(raw: Any) -> str | None:
    """The id a bad item claims, to name it in the warning."""
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _split_file(data: Any) -> tuple[str | None, list[Any]]:
    """A file is a list of items, or a mapping with `items` and an optional default `topic`."""
    if data is None:
        return None, []
    if isinstance(data, list):
        return None, data
    if not isinstance(data, dict):
        raise InvalidItem("expected a list of items or a mapping with 'items'")
    unknown = set(data) - {"topic", "items"}
    if unknown:
        raise InvalidItem(f"unknown top-level keys: {', '.join(sorted(map(str, unknown)))}")
    topic = data.get("topic")
    if topic is not None and not (isinstance(topic, str) and SLUG.match(topic)):
        raise InvalidItem("top-level 'topic' must be a short lower-case slug")
    items = data.get("items") or []
    if not isinstance(items, list):
        raise InvalidItem("'items' must be a list")
    return topic, items


def _parse_item(raw: Any, default_topic: str | None, source: str, known: set[str] | None) -> QuizItem:
    """Validate one raw mapping and build its item."""
    if not isinstance(raw, dict):
        raise InvalidItem("item must be a mapping")
    if default_topic is not None:
        raw = {"topic": default_topic, **raw}
    kind = kind_named(raw.get("kind"))
    _check_keys(raw, kind)
    item_id, entry, topic, prompt = (text_field(raw, key) for key in ("id", "entry", "topic", "prompt"))
    if not SLUG.match(item_id) or item_id.startswith(GENERATED_PREFIX):
        raise InvalidItem(f"id {item_id!r} must be a lower-case slug not starting with {GENERATED_PREFIX!r}")
    if not SLUG.match(topic):
        raise InvalidItem(f"topic {topic!r} must be a short lower-case slug")
    if known is not None and entry not in known:
        raise InvalidItem(f"unknown entry id {entry!r}")
    base = QuizItem(id=item_id, entry=entry, topic=topic, kind=kind.name, prompt=prompt,
                    difficulty=_difficulty(raw), source=source)
    return kind.read(base, raw)


def _check_keys(raw: dict[str, Any], kind: QuizKind) -> None:
    """Every required key present, and no key this kind does not use (usually a typo)."""
    required = (_COMMON - {"difficulty"}) | kind.fields
    missing = sorted(required - raw.keys())
    if missing:
        raise InvalidItem(f"missing fields: {', '.join(missing)}")
    unknown = sorted(str(key) for key in raw.keys() - _COMMON - kind.fields - kind.optional)
    if unknown:
        raise InvalidItem(f"fields not used by kind {kind.name!r}: {', '.join(unknown)}")


def _difficulty(raw: dict[str, Any]) -> int:
    value = raw.get("difficulty", 2)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3:
        raise InvalidItem("'difficulty' must be 1, 2 or 3")
    return value


# --- generation ---------------------------------------------------------------------------------------------

# Underscores are left alone: they are part of names such as `num_workers`, not emphasis, in these docs.
_MARKUP = re.compile(r"\*+|`+|^#+\s*|^>\s*|\[([^\]]*)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\"'])")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def generate_items(
    entries: Sequence[Entry], encode: Encode, per_entry: int = 1, seed: int = 0
) -> list[QuizItem]:
    """Multiple-choice items with distractors from the most similar other entries; a seed fixes them."""
    if per_entry < 1:
        raise ValueError("per_entry must be at least 1")
    unique = list({entry.id: entry for entry in entries}.values())
    if len(unique) < 2:
        return []
    vectors = encode([f"{entry.question}\n{summarise(entry.answer)}" for entry in unique])
    similarity = vectors @ vectors.T
    items: list[QuizItem] = []
    for index, entry in enumerate(unique):
        pool = [unique[i] for i in _neighbours(similarity[index], index)]
        items.extend(_items_for(entry, pool, per_entry, random.Random(f"{seed}:{entry.id}")))
    return items


def _items_for(entry: Entry, pool: list[Entry], count: int, rng: random.Random) -> list[QuizItem]:
    """Up to `count` items for one entry, each from a different template, in an order the seed picks."""
    if not summarise(entry.answer):
        return []
    templates = list(_TEMPLATES)
    rng.shuffle(templates)
    made = (template(entry, pool, rng) for template in templates[:count])
    return [item for item in made if item is not None]


def summarise(answer: str, limit: int = SUMMARY_CHARS) -> str:
    """The opening sentences of an answer without markdown, enough to say something, cut at a word boundary."""
    sentences = _SENTENCE_END.split(_first_block(answer))
    taken = sentences[0]
    # "Both switch off gradient recording." alone cannot tell one answer from another.
    for sentence in sentences[1:]:
        if len(taken) >= SUMMARY_MIN_CHARS:
            break
        taken += " " + sentence
    text = _MARKUP.sub(lambda match: match.group(1) or "", taken).strip().rstrip(":")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _first_block(text: str) -> str:
    """The first paragraph, ending where a blank line or a list item begins, joined into one line."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip() or (lines and _LIST_MARK.match(line)):
            break
        lines.append(_LIST_MARK.sub("", line).strip())
    return " ".join(lines)


def _neighbours(row: np.ndarray, index: int) -> list[int]:
    """Other entries by falling similarity, skipping near-duplicates; ties broken by position."""
    order = sorted(range(len(row)), key=lambda i: (-float(row[i]), i))
    return [i for i in order if i != index and float(row[i]) < NEAR_DUPLICATE][:NEIGHBOUR_POOL]


def _distractors(
    right: str, pool: list[Entry], text_of: Callable[[Entry], str], rng: random.Random
) -> list[tuple[Entry, str]]:
    """Up to three neighbours whose text differs from the right answer and from each other."""
    taken = {normalise_answer(right)}
    candidates: list[tuple[Entry, str]] = []
    for other in pool:
        text = text_of(other)
        key = normalise_answer(text)
        if key and key not in taken:
            taken.add(key)
            candidates.append((other, text))
    nearest_first = candidates[: GENERATED_DISTRACTORS + 2]
    picked = rng.sample(nearest_first, min(GENERATED_DISTRACTORS, len(nearest_first)))
    return sorted(picked, key=nearest_first.index)


def _question_item(entry: Entry, pool: list[Entry], rng: random.Random) -> QuizItem | None:
    """Show part of the answer; ask which question it answers."""
    picked = _distractors(entry.question, pool, lambda other: other.question, rng)
    if not picked:
        return None
    right = Choice(entry.question, True, "This is the question the passage answers.")
    wrong = [Choice(text, False, f"That question has a different answer: “{summarise(other.answer, 160)}”")
             for other, text in picked]
    prompt = f"Which question does this answer?\n> {summarise(entry.answer)}"
    return _generated(entry, "question", prompt, _shuffled(right, wrong, rng))


def _statement_item(entry: Entry, pool: list[Entry], rng: random.Random) -> QuizItem | None:
    """Show the question; ask which statement answers it."""
    summary = summarise(entry.answer)
    picked = _distractors(summary, pool, lambda other: summarise(other.answer), rng)
    if not picked:
        return None
    right = Choice(summary, True, f"This is how the answer to “{entry.question}” begins.")
    wrong = [Choice(text, False, f"This answers a different question: “{other.question}”")
             for other, text in picked]
    prompt = f"Which statement best answers this question?\n> {entry.question}"
    return _generated(entry, "statement", prompt, _shuffled(right, wrong, rng))


_TEMPLATES = (_question_item, _statement_item)


def _shuffled(right: Choice, wrong: list[Choice], rng: random.Random) -> tuple[Choice, ...]:
    choices = [right, *wrong]
    rng.shuffle(choices)
    return tuple(choices)


def _generated(entry: Entry, template: str, prompt: str, choices: tuple[Choice, ...]) -> QuizItem:
    return QuizItem(
        id=f"{GENERATED_PREFIX}{template}-{entry.id}", entry=entry.id, topic=topic_of(entry), kind="choice",
        prompt=prompt, choices=choices, generated=True, source=entry.source,
    )


def topic_of(entry: Entry) -> str:
    """The entry's document's name (a handful of topics for the whole pack), else its first tag (an entry an admin
    added has no document)."""
    if entry.source and entry.source.endswith(".md"):
        return Path(entry.source).stem.lower()
    return entry.tags[0].lower() if entry.tags else "general"
