"""The ask use case on the real model: answers from the seed, declines off-topic, survives bad input."""

from __future__ import annotations

import numpy as np
import pytest

from bot.core.answering.knowledge import KnowledgeService
from bot.core.answering.matching import AskService
from knowledge.cache import EmbeddingCache
from tests.conftest import SEED

TENSOR_ENTRY = "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray"


@pytest.fixture
def seed_ask(embedder, tmp_path) -> AskService:  # type: ignore[no-untyped-def]
    knowledge = KnowledgeService([SEED], embedder, EmbeddingCache(tmp_path / "cache", embedder.name))
    knowledge.reload()
    return AskService(knowledge, embedder, threshold=0.5)


def test_tensor_question_finds_the_tensor_entry(seed_ask: AskService) -> None:
    answer = seed_ask.answer("How is a PyTorch tensor different from a numpy array?")
    assert answer.status == "answered"
    assert answer.hit is not None and answer.hit.entry.id == TENSOR_ENTRY
    payload = answer.to_json()
    assert payload["entry_id"] == TENSOR_ENTRY and "GPU" in payload["answer"]
    assert all(r["entry_id"] != TENSOR_ENTRY for r in payload["related"])


@pytest.mark.parametrize("question", ["How do I center a div in CSS?", "best pizza dough recipe"])
def test_off_topic_questions_are_declined(seed_ask: AskService, question: str) -> None:
    payload = seed_ask.answer(question).to_json()
    assert payload["status"] == "no_match"
    assert payload["entry_id"] is None and payload["answer"] is None
    assert payload["score"] < seed_ask.threshold


@pytest.mark.parametrize("question", ["", "   \n\t ", "🔥🔥🚀", "\x00\x01\x02\x7f\ufffd" * 50])
def test_questions_without_words_are_declined_without_encoding(seed_ask: AskService, question: str) -> None:
    answer = seed_ask.answer(question)
    assert answer.status == "no_match" and answer.note == "empty" and answer.hit is None


def test_a_huge_question_is_capped_not_rejected(seed_ask: AskService) -> None:
    question = "How does a PyTorch tensor differ from a NumPy ndarray? " + "x" * 100_000
    answer = seed_ask.answer(question)
    assert answer.note == "truncated"
    assert answer.to_json()["question"] == question


def test_non_english_question_gets_a_clear_status(seed_ask: AskService) -> None:
    for question in ("¿Qué es PyTorch y cuáles son sus características?", "PyTorch 是什么？"):
        assert seed_ask.answer(question).status in ("answered", "no_match")


def test_repeated_question_is_served_from_the_cache(seed_ask: AskService, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first = seed_ask.answer("what is a dynamic computation graph")
    monkeypatch.setattr(seed_ask, "_encoder", None)  # encoding again would now fail
    second = seed_ask.answer("what   is a dynamic computation graph")
    assert second.hit == first.hit and second.status == first.status


def test_batched_answers_keep_input_order(seed_ask: AskService) -> None:
    questions = ["what is pytorch", "", "why are dynamic graphs useful", "how do I center a div in CSS?"]
    answers = seed_ask.answer_many(questions)
    assert [a.question for a in answers] == questions
    assert [a.status for a in answers] == ["answered", "no_match", "answered", "no_match"]


def test_embeddings_are_cached_on_disk_across_restarts(embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    class Counting:
        dimension, name, calls = embedder.dimension, embedder.name, 0

        def encode(self, texts):  # type: ignore[no-untyped-def]
            Counting.calls += len(texts)
            return embedder.encode(texts)

    from knowledge.index import entry_texts
    from knowledge.loader import load_entries

    texts = sum(len(entry_texts(entry)) for entry in load_entries([SEED]))  # questions and answer passages
    for expected_calls in (texts, texts):  # the second build encodes nothing new
        cache = EmbeddingCache(tmp_path / "cache", embedder.name)
        KnowledgeService([SEED], Counting(), cache).reload()
        assert Counting.calls == expected_calls
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].name == f"embeddings-{embedder.name}.npy"


def test_semantic_search_ranks_by_cosine() -> None:
    from knowledge.retrieval import semantic_search

    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(20, 8)).astype(np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    results = semantic_search(corpus[[3, 7]], corpus, top_k=4)
    assert [r[0][0] for r in results] == [3, 7]
    for ranked in results:
        scores = [s for _, s in ranked]
        assert scores == sorted(scores, reverse=True) and len(ranked) == 4


@pytest.mark.parametrize("question, topic", [
    ("How do I fix CUDA out of memory errors in TensorFlow?", "TensorFlow"),
    ("How is a JAX array different from a numpy array?", "JAX"),
    ("How is a CuPy array different from a numpy array?", "CuPy"),
])
def test_questions_about_other_frameworks_are_declined_even_when_they_share_words(seed_ask: AskService,
                                                                                   question: str, topic: str) -> None:
    answer = seed_ask.answer(question)
    assert answer.status == "no_match" and answer.off_topic == topic
    assert answer.to_json()["entry_id"] is None


def test_related_entries_are_distinct_and_above_the_related_threshold(seed_ask: AskService) -> None:
    answer = seed_ask.answer("How is a PyTorch tensor different from a numpy array?")
    ids = [h.entry.id for h in answer.related]
    assert answer.hit is not None and answer.hit.entry.id not in ids and len(ids) == len(set(ids)) <= 3
    assert all(h.score >= seed_ask.related_threshold for h in answer.related)
    assert [h.score for h in answer.related] == sorted((h.score for h in answer.related), reverse=True)


def test_concurrent_async_questions_are_encoded_in_shared_batches(seed_ask: AskService) -> None:
    import asyncio

    service = AskService(seed_ask.knowledge, seed_ask._encoder, batching=True, max_wait=0.01)
    questions = [f"How is a PyTorch tensor different from a numpy array, case {i}?" for i in range(12)]

    async def ask_all() -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(service.answer_async(q) for q in questions))

    try:
        answers = asyncio.run(ask_all())
        again = asyncio.run(service.answer_async(questions[0]))
        blocking = service.answer("what is a dynamic computation graph")
    finally:
        service.close()
    assert [a.question for a in answers] == questions
    assert all(a.hit is not None and a.hit.entry.id == TENSOR_ENTRY for a in answers)
    assert service.batcher is not None and service.batcher.batches < len(questions)
    assert again.cached and again.hit == answers[0].hit
    assert blocking.status == "answered"
