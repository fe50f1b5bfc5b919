"""Lexical matching, fusion and the off-topic check: identifiers and pasted errors find their entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.entries import Entry
from knowledge.index import KnowledgeIndex, answer_passages
from knowledge.lexical import LexicalIndex, tokenize
from knowledge.loader import load_entries
from knowledge.retrieval import best_per_group, best_per_run, fuse, top_k
from knowledge.topic import foreign_topic

FIXTURE = Path(__file__).parent / "data" / "retrieval.md"
RESET = "when-should-i-reset-gradients-in-a-training-loop"
BACKWARD = "why-does-a-second-backward-pass-through-the-same-graph-fail"
NO_GRAD = "how-do-i-turn-off-gradient-tracking-for-evaluation"
VIEW = "how-do-view-and-reshape-differ"
DEVICES = "how-do-i-fix-tensors-that-live-on-different-devices"
WORKERS = "how-many-worker-processes-should-a-data-loader-use"
FREEZE = "how-do-i-keep-the-first-layers-of-a-network-fixed-while-training-the-rest"
MEMORY = "what-can-i-do-when-the-gpu-runs-out-of-memory"

# Identifiers and pasted errors (lexical territory) and paraphrases sharing no words (dense territory).
LABELLED = [
    ("optimizer.zero_grad", RESET), ("empty_cache", MEMORY), ("retain_graph", BACKWARD), ("num_workers=0", WORKERS),
    ("inference_mode", NO_GRAD), ("cuda:0 and cpu", DEVICES), ("requires_grad = False", FREEZE),
    ("view size is not compatible", VIEW),
    ("updates keep growing unless I clear something before each step", RESET),
    ("calling backward two times on one loss crashes", BACKWARD),
    ("skip bookkeeping for derivatives while validating", NO_GRAD),
    ("my graphics card is full and the program crashes", MEMORY),
    ("speed up feeding examples to the model with parallelism", WORKERS),
    ("don't update the early part of a pretrained net", FREEZE),
    ("model is on the GPU but inputs are not", DEVICES),
    ("change the shape of an array without copying", VIEW),
]


@pytest.fixture(scope="module")
def fixture_index(embedder) -> KnowledgeIndex:  # type: ignore[no-untyped-def]
    return KnowledgeIndex.build(load_entries([FIXTURE]), embedder)


def test_tokenizer_keeps_identifiers_whole_and_in_parts() -> None:
    assert tokenize("when should I call optimizer.zero_grad()") == [
        "call", "optimizer.zero_grad", "optimizer", "zero_grad", "zero", "grad"]
    assert {"torch.no_grad", "torch", "no_grad", "grad"} <= set(tokenize("with torch.no_grad():"))
    assert {"retain_graph", "retain", "graph", "true"} <= set(tokenize("retain_graph=True"))
    assert "zero_grad" in tokenize("ZERO_GRAD")
    assert tokenize("what is the") == []
    assert tokenize("shapes") == tokenize("shape") and tokenize("reproducible") == tokenize("reproducibility")


def test_lexical_scores_are_normalised_and_unknown_terms_count_against() -> None:
    docs = [tokenize("optimizer.zero_grad resets gradients"), tokenize("torch.inference_mode stops tracking"),
            tokenize("DataLoader num_workers")]
    lexical = LexicalIndex(docs)
    scores = lexical.scores(tokenize("optimizer.zero_grad()"))
    assert scores.shape == (3,) and 0.0 < scores[0] <= 1.0 and scores[1] == scores[2] == 0.0
    with_unknown = lexical.scores(tokenize("optimizer.zero_grad() in tensorflow keras"))
    assert with_unknown[0] < scores[0]
    assert not lexical.scores([]).any() and not LexicalIndex([]).scores(["x"]).shape[0]


@pytest.mark.parametrize("query, expected", [
    ("zero_grad", RESET),
    ("retain_graph=True", BACKWARD),
    ("RuntimeError: Trying to backward through the graph a second time", BACKWARD),
    ("RuntimeError: view size is not compatible with input tensor's size and stride", VIEW),
    ("RuntimeError: Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!",
     DEVICES),
    ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", MEMORY),
    ("torch.inference_mode", NO_GRAD),
])
def test_bm25_alone_finds_entries_by_identifier_and_pasted_error(fixture_index: KnowledgeIndex, query: str,
                                                                 expected: str) -> None:
    fixture_index.dense_weight = 0.0
    try:
        hits = fixture_index.search(np.zeros(384, dtype=np.float32), top_k=2, text=query)
    finally:
        fixture_index.dense_weight = 0.6
    assert hits[0].entry.id == expected and hits[0].lexical > hits[1].lexical


def test_fusion_beats_dense_alone_and_lexical_alone(fixture_index: KnowledgeIndex, embedder) -> None:  # type: ignore[no-untyped-def]
    vectors = embedder.encode([question for question, _ in LABELLED])

    def correct(weight: float) -> int:
        # The fused score itself (what a threshold judges); ranking also weighs answer matches down, tested below.
        fixture_index.dense_weight = weight
        return sum(fixture_index.entries[int(np.argmax(fixture_index.scores(v, q)[0]))].id == want
                   for (q, want), v in zip(LABELLED, vectors, strict=True))

    try:
        dense, lexical, fused = correct(1.0), correct(0.0), correct(0.6)
    finally:
        fixture_index.dense_weight = 0.6
    assert fused > dense and fused > lexical, (dense, lexical, fused)
    assert fused == len(LABELLED)


def test_hits_carry_the_fused_score_and_its_parts(fixture_index: KnowledgeIndex, embedder) -> None:  # type: ignore[no-untyped-def]
    question = "when do I call zero_grad"
    hit = fixture_index.search(embedder.encode([question])[0], top_k=1, text=question)[0]
    assert hit.entry.id == RESET
    assert hit.score == pytest.approx(0.6 * hit.dense + 0.4 * hit.lexical, abs=1e-5)


@pytest.mark.parametrize("question, topic", [
    ("What does TensorFlow's tf.function decorator do?", "TensorFlow"),
    ("How do I fix CUDA out of memory errors in TensorFlow?", "TensorFlow"),
    ("How do I save a Keras model to an h5 file?", "Keras"),
    ("Is JAX's jit the same as XLA compilation?", "JAX"),
    ("jnp.array vs np.array", "JAX"),
    ("How to share memory between numpy and cupy?", "CuPy"),
    ("How do I center a div in CSS?", "CSS"),
    ("explain React useEffect cleanup", "front-end frameworks"),
])
def test_questions_about_other_frameworks_are_spotted(question: str, topic: str) -> None:
    assert foreign_topic(question) == topic


@pytest.mark.parametrize("question", [
    "what is the PyTorch equivalent of tf.function", "Keras vs PyTorch: which is easier?", "how do I use nn.Linear",
    "my model is reactive to noise", "what is a tensor", "convert a numpy array to a torch tensor",
    "tf-idf features for a torch text model",
])
def test_pytorch_questions_are_not_taken_for_other_frameworks(question: str) -> None:
    assert foreign_topic(question) is None


def test_answer_passages_leave_code_out_and_join_short_items() -> None:
    answer = ("Intro sentence that is long enough to stand alone as one passage of prose text here, really it is "
              "long enough.\n\n- a\n- short\n- items\n\n```python\nx = torch.zeros(3)  # code\n```\nTail words.")
    passages = answer_passages(answer)
    assert passages[0].startswith("Intro sentence")
    assert all("torch.zeros" not in p for p in passages)
    assert any("- a - short - items" in p for p in passages)


def test_pure_ranking_helpers() -> None:
    scores = np.array([0.1, 0.9, 0.3, 0.9], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [1, 3, 2]
    assert best_per_run(scores, np.array([0, 2])).tolist() == pytest.approx([0.9, 0.9])
    assert best_per_group(scores, np.array([0, 0, 1, 1]), 2).tolist() == pytest.approx([0.9, 0.9])
    assert fuse(np.array([1.0]), np.array([0.0]), 0.6).tolist() == pytest.approx([0.6])


def test_an_index_without_entries_finds_nothing() -> None:
    index = KnowledgeIndex.empty(384)
    assert index.search(np.ones(384, dtype=np.float32), text="zero_grad") == [] and len(index) == 0
    entry = Entry(id="x", question="What is x?", answer="x is x.")
    assert len(KnowledgeIndex([entry], np.ones((1, 384), dtype=np.float32), np.array([0]))) == 1


def test_an_entry_asking_about_the_words_outranks_one_whose_answer_merely_writes_them(embedder) -> None:  # type: ignore[no-untyped-def]
    asks = Entry("asks", "What can I do about overfitting in a small model?",
                 "Collect more data, regularise, stop early.")
    mentions = Entry("mentions", "How do I add dropout?", "Dropout reduces overfitting: add `nn.Dropout(p)`.")
    index = KnowledgeIndex.build([asks, mentions], embedder)
    silent = np.zeros(384, dtype=np.float32)  # no dense part: the lexical match alone decides
    fused, _, _ = index.scores(silent, "overfitting")
    assert fused[1] > fused[0]  # the short answer's match scores higher...
    hits = index.search(silent, top_k=2, text="overfitting")
    assert [hit.entry.id for hit in hits] == ["asks", "mentions"]  # ...but the entry that asks about it ranks first
    assert [hit.score for hit in hits] == pytest.approx([fused[0], fused[1]])  # scores stay the fused ones
