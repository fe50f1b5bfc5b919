"""The quiz bank loads cleanly, bad items are reported and skipped, and generation is deterministic."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import knowledge
from knowledge.entries import Entry
from knowledge.quiz_bank import (
    GENERATED_DISTRACTORS,
    BankReport,
    QuizItem,
    default_quiz_paths,
    generate_items,
    load_bank,
    summarise,
)
from knowledge.quiz_kinds import UnknownKind, grade

DOCS = Path(knowledge.__file__).resolve().parent / "docs"
SEED_ENTRIES = {
    "what-is-pytorch-and-what-are-its-two-main-features",
    "what-is-a-dynamic-computation-graph-and-why-is-it-an-advantage",
    "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray",
}
Encode = Callable[[list[str]], np.ndarray]


@pytest.fixture(scope="module")
def encode() -> Encode:
    """The real embedder, remembering each text's vector so repeated generation stays cheap."""
    from knowledge.embedder import get_embedder

    embedder = get_embedder()
    seen: dict[str, np.ndarray] = {}

    def remembering(texts: list[str]) -> np.ndarray:
        new = sorted(set(texts) - seen.keys())
        seen.update(zip(new, embedder.encode(new), strict=True))
        return np.stack([seen[text] for text in texts]) if texts else embedder.encode([])

    return remembering


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    loader = pytest.importorskip("knowledge.loader")
    return loader.load_entries([DOCS])


@pytest.fixture(scope="module")
def bank(entries: list[Entry]) -> BankReport:
    return load_bank(default_quiz_paths(), known_entry_ids={entry.id for entry in entries})


# --- the authored bank --------------------------------------------------------------------------------------


def test_bank_loads_without_warnings(bank: BankReport) -> None:
    assert [str(warning) for warning in bank.warnings] == []
    assert all(report.items for report in bank.files)


def test_every_item_tests_a_real_entry(bank: BankReport, entries: list[Entry]) -> None:
    ids = {entry.id for entry in entries}
    assert SEED_ENTRIES <= ids
    assert {item.entry for item in bank.items} <= ids


def test_seed_entries_have_thirty_items_of_every_kind(bank: BankReport) -> None:
    seed_items = [item for item in bank.items if item.entry in SEED_ENTRIES]
    assert len(seed_items) >= 30
    for entry_id in SEED_ENTRIES:
        assert {item.kind for item in bank.for_entry(entry_id)} == {"choice", "true_false", "free_text"}


def test_items_are_well_formed(bank: BankReport) -> None:
    counts = Counter(item.id for item in bank.items)
    assert max(counts.values()) == 1
    for item in bank.items:
        assert not item.generated and not item.id.startswith("gen-")
        assert item.topic == item.topic.lower() and Path(item.source).parent == default_quiz_paths()[0]
        if item.kind == "choice":
            assert sum(choice.correct for choice in item.choices) == 1 and item.correct_index >= 0
        elif item.kind == "true_false":
            assert isinstance(item.answer, bool) and item.explanation
        else:
            assert item.reference and 2 <= len(item.key_points) <= 5


def test_true_false_answers_are_balanced(bank: BankReport) -> None:
    answers = Counter(item.answer for item in bank.items if item.kind == "true_false")
    assert answers[True] >= 3 and answers[False] >= 3


def test_bank_lookup(bank: BankReport) -> None:
    item = bank.get("tensor-move-to-gpu")
    assert item is not None and item.kind == "choice" and item.topic == "tensors"
    assert bank.get("no-such-item") is None


def test_missing_directory_or_file_is_a_warning(tmp_path: Path) -> None:
    report = load_bank([tmp_path / "absent.yaml"])
    assert report.items == () and "cannot read file" in str(report.warnings[0])


# --- bad items ----------------------------------------------------------------------------------------------

GOOD_TF = """
  - id: good-item
    entry: known-entry
    topic: tensors
    kind: true_false
    prompt: Tensors can live on a GPU.
    answer: true
    explanation: They can be moved there with .to('cuda').
"""

BAD_ITEMS = {
    "missing fields": ("""
  - id: no-prompt
    entry: known-entry
    topic: tensors
    kind: true_false
    answer: true
""", "missing fields: explanation, prompt"),
    "no correct choice": ("""
  - id: none-right
    entry: known-entry
    topic: tensors
    kind: choice
    prompt: Pick one.
    choices:
      - {text: Alpha, correct: false, why: No.}
      - {text: Beta, correct: false, why: No.}
""", "exactly one choice must be correct, found 0"),
    "two correct choices": ("""
  - id: two-right
    entry: known-entry
    topic: tensors
    kind: choice
    prompt: Pick one.
    choices:
      - {text: Alpha, correct: true, why: Yes.}
      - {text: Beta, correct: true, why: Yes.}
""", "exactly one choice must be correct, found 2"),
    "one choice only": ("""
  - id: lonely
    entry: known-entry
    topic: tensors
    kind: choice
    prompt: Pick one.
    choices:
      - {text: Alpha, correct: true, why: Yes.}
""", "'choices' must be a list of 2-6 choices"),
    "choice without why": ("""
  - id: no-why
    entry: known-entry
    topic: tensors
    kind: choice
    prompt: Pick one.
    choices:
      - {text: Alpha, correct: true}
      - {text: Beta, correct: false, why: No.}
""", "choice 1 must have exactly 'text', 'correct' and 'why'"),
    "choice text like a label": ("""
  - id: numeric
    entry: known-entry
    topic: tensors
    kind: choice
    prompt: How many dimensions has a matrix?
    choices:
      - {text: "2", correct: true, why: Rows and columns.}
      - {text: "3", correct: false, why: That is a stack of matrices.}
""", "could be mistaken for a choice number"),
    "unknown entry": ("""
  - id: orphan
    entry: not-a-real-entry
    topic: tensors
    kind: true_false
    prompt: Tensors exist.
    answer: true
    explanation: They do.
""", "unknown entry id 'not-a-real-entry'"),
    "duplicate id": ("""
  - id: good-item
    entry: known-entry
    topic: tensors
    kind: true_false
    prompt: The same id again.
    answer: false
    explanation: Ids must be unique.
""", "duplicate id 'good-item'"),
    "answer not a boolean": ("""
  - id: stringly
    entry: known-entry
    topic: tensors
    kind: true_false
    prompt: Tensors exist.
    answer: "maybe"
    explanation: They do.
""", "'answer' must be true or false"),
    "misspelt field": ("""
  - id: typo
    entry: known-entry
    topic: tensors
    kind: true_false
    prompt: Tensors exist.
    answer: true
    explanation: They do.
    dificulty: 2
""", "fields not used by kind 'true_false': dificulty"),
    "field of another kind": ("""
  - id: mixed
    entry: known-entry
    topic: tensors
    kind: true_false
    prompt: Tensors exist.
    answer: true
    explanation: They do.
    reference: Tensors exist.
""", "fields not used by kind 'true_false': reference"),
    "too few key points": ("""
  - id: thin
    entry: known-entry
    topic: tensors
    kind: free_text
    prompt: What is a tensor?
    reference: An N-dimensional array.
    key_points: [array]
""", "'key_points' must be a list of 2-5 points"),
    "stop-word synonym": ("""
  - id: vague
    entry: known-entry
    topic: tensors
    kind: free_text
    prompt: What is a tensor?
    reference: An N-dimensional array that can live on a GPU.
    key_points:
      - array
      - {point: gpu, synonyms: [on it]}
""", "has only stop words"),
    "bad difficulty": ("""
  - id: too-hard
    entry: known-entry
    topic: tensors
    kind: true_false
    prompt: Tensors exist.
    answer: true
    explanation: They do.
    difficulty: 5
""", "'difficulty' must be 1, 2 or 3"),
    "reserved id prefix": ("""
  - id: gen-mine
    entry: known-entry
    topic: tensors
    kind: true_false
    prompt: Tensors exist.
    answer: true
    explanation: They do.
""", "must be a lower-case slug not starting with 'gen-'"),
    "topic not a slug": ("""
  - id: shouty
    entry: known-entry
    topic: Tensors And Stuff
    kind: true_false
    prompt: Tensors exist.
    answer: true
    explanation: They do.
""", "topic 'Tensors And Stuff' must be a short lower-case slug"),
    "not a mapping": ("""
  - just a string
""", "item must be a mapping"),
}


def _write(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(BAD_ITEMS))
def test_bad_item_is_reported_and_skipped(tmp_path: Path, case: str) -> None:
    body, expected = BAD_ITEMS[case]
    path = _write(tmp_path / "bad.yaml", "items:" + GOOD_TF + body)
    report = load_bank([path], known_entry_ids={"known-entry"})
    assert [item.id for item in report.items] == ["good-item"]
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert expected in warning.message and warning.index == 1 and warning.path == str(path)
    assert str(path) in str(warning) and "item #2" in str(warning)


ESSAY = """
  - id: essay
    entry: known-entry
    topic: tensors
    kind: essay
    prompt: Discuss.
"""


def test_an_unknown_kind_stops_the_load_naming_its_file_and_item(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.yaml", "items:" + GOOD_TF + ESSAY)
    with pytest.raises(UnknownKind) as caught:
        load_bank([path], known_entry_ids={"known-entry"})
    assert str(caught.value) == \
        f"{path} item #2 (essay): unknown kind 'essay'; expected one of choice, true_false, free_text"


def test_an_item_without_a_kind_stops_the_load_too(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.yaml", "items:" + GOOD_TF.replace("kind: true_false", "kind:"))
    with pytest.raises(UnknownKind, match=r"item #1 \(good-item\): unknown kind None"):
        load_bank([path])


def test_unknown_entries_are_accepted_without_a_known_set(tmp_path: Path) -> None:
    path = _write(tmp_path / "any.yaml", "items:" + GOOD_TF)
    assert [item.entry for item in load_bank([path]).items] == ["known-entry"]


def test_duplicate_ids_across_files_keep_the_first(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "items:" + GOOD_TF)
    _write(tmp_path / "b.yaml", "topic: tensors\nitems:" + GOOD_TF.replace("    topic: tensors\n", ""))
    report = load_bank([tmp_path])
    assert [item.source for item in report.items] == [str(tmp_path / "a.yaml")]
    assert [w.path for w in report.warnings] == [str(tmp_path / "b.yaml")]
    assert report.files[1].warnings[0].message == "duplicate id 'good-item'"


def test_file_level_topic_is_the_default(tmp_path: Path) -> None:
    header = "topic: autograd\nitems:"
    own = _write(tmp_path / "t.yaml", header + GOOD_TF.replace("topic: tensors", "topic: x"))
    inherited = _write(tmp_path / "u.yaml", header + GOOD_TF.replace("    topic: tensors\n", ""))
    assert load_bank([own]).items[0].topic == "x"
    assert load_bank([inherited]).items[0].topic == "autograd"


@pytest.mark.parametrize("body, expected", [
    ("items: [\n  - broken", "cannot read file"),
    ("42", "expected a list of items"),
    ("topic: tensors\nquestions: []", "unknown top-level keys: questions"),
    ("items: {id: x}", "'items' must be a list"),
])
def test_bad_file_is_one_warning(tmp_path: Path, body: str, expected: str) -> None:
    report = load_bank([_write(tmp_path / "bad.yaml", body)])
    assert report.items == () and len(report.warnings) == 1 and expected in report.warnings[0].message


def test_empty_file_is_fine(tmp_path: Path) -> None:
    report = load_bank([_write(tmp_path / "empty.yaml", "")])
    assert report.items == () and report.warnings == ()


# --- generation ---------------------------------------------------------------------------------------------


def test_generation_is_deterministic_for_a_seed(entries: list[Entry], encode: Encode) -> None:
    first = generate_items(entries, encode, per_entry=2, seed=7)
    assert first == generate_items(entries, encode, per_entry=2, seed=7)
    orders = {tuple(c.text for c in item.choices) for seed in range(6)
              for item in generate_items(entries, encode, seed=seed)[:1]}
    assert len(orders) > 1, "different seeds should vary the items"


def test_generated_items_are_well_formed(entries: list[Entry], encode: Encode) -> None:
    by_id = {entry.id: entry for entry in entries}
    items = generate_items(entries, encode, per_entry=2)
    assert len(items) == 2 * len(entries)
    assert len({item.id for item in items}) == len(items)
    for item in items:
        entry = by_id[item.entry]
        assert item.generated and item.id.startswith("gen-") and item.kind == "choice"
        assert 2 <= len(item.choices) <= 1 + GENERATED_DISTRACTORS
        right = item.choices[item.correct_index]
        wrong = [choice for choice in item.choices if not choice.correct]
        assert sum(choice.correct for choice in item.choices) == 1
        assert right.text in (entry.question, summarise(entry.answer))
        assert all(choice.text != right.text and choice.why for choice in wrong)
        others = {text for other in entries if other.id != entry.id
                  for text in (other.question, summarise(other.answer))}
        assert {choice.text for choice in wrong} <= others
        assert grade(item, str(item.correct_index + 1), encode).correct


def _fake_encoder(vectors: dict[str, list[float]]) -> Encode:
    """Encode a text by the vector of the entry whose question it starts with."""
    def encode(texts: list[str]) -> np.ndarray:
        rows = [next(v for q, v in vectors.items() if text.startswith(q)) for text in texts]
        array = np.asarray(rows, dtype=np.float32)
        return array / np.linalg.norm(array, axis=1, keepdims=True)
    return encode


def test_distractors_come_from_the_nearest_entries() -> None:
    # Entry 0 sits near 1-5 and far from 6-9; 10 is a near-duplicate whose answer could also be right.
    angles = [0.0, 0.45, 0.5, 0.55, 0.6, 0.65, 2.0, 2.2, 2.4, 2.6, 0.05]
    entries = [Entry(id=f"e{i}", question=f"Question {i}?", answer=f"Answer number {i}.") for i in range(11)]
    vectors = {entry.question: [np.cos(a), np.sin(a)] for entry, a in zip(entries, angles, strict=True)}
    encode = _fake_encoder(vectors)
    allowed = {f"Question {i}?" for i in range(1, 6)} | {f"Answer number {i}." for i in range(1, 6)}
    seen: set[str] = set()
    for seed in range(10):
        for item in generate_items(entries, encode, per_entry=2, seed=seed):
            if item.entry == "e0":
                wrong = {choice.text for choice in item.choices if not choice.correct}
                assert len(wrong) == GENERATED_DISTRACTORS and wrong <= allowed
                seen |= wrong
    assert {"Question 1?", "Answer number 1."} <= seen


def test_generation_edge_cases(encode: Encode) -> None:
    one = [Entry(id="solo", question="What is a tensor?", answer="An N-dimensional array.")]
    assert generate_items(one, encode) == []
    with pytest.raises(ValueError):
        generate_items(one, encode, per_entry=0)
    two = [*one, Entry(id="pair", question="What is autograd?", answer="Automatic differentiation.")]
    items = generate_items(two, encode, per_entry=5)
    assert {item.id for item in items} == {
        "gen-question-solo", "gen-statement-solo", "gen-question-pair", "gen-statement-pair"}
    assert all(isinstance(item, QuizItem) and len(item.choices) == 2 for item in items)
    blank = Entry(id="blank", question="What is a leaf tensor?", answer="")
    assert {item.entry for item in generate_items([*two, blank], encode, per_entry=2)} == {"solo", "pair"}


def test_summarise_takes_the_opening_sentences_without_markdown() -> None:
    answer = "A **Tensor** is an array. It can live on a GPU. It has a dtype.\n\n1. **GPU:** fast"
    assert summarise(answer) == "A Tensor is an array. It can live on a GPU. It has a dtype."
    long_first = "Gradient clipping caps how large a single update can be, so one huge gradient can't hurt."
    assert summarise(long_first + " More.\n- `clip_grad_norm_` scales.") == long_first
    assert summarise("With `num_workers=0` the main process loads every batch itself and waits.") == (
        "With num_workers=0 the main process loads every batch itself and waits.")
    assert summarise("Lead-in for a list:\n\n- one\n- two") == "Lead-in for a list"
    assert summarise("word " * 100).endswith("…") and len(summarise("word " * 100)) <= 221
