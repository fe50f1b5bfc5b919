"""The micro-batcher: concurrent callers share model calls and each gets its own result back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from knowledge.batching import BatchingEncoder, MicroBatcher


class SlowFakeEncoder:
    """Vectors that encode the text itself (its hash), slow enough that concurrent calls pile up."""

    dimension = 8
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.calls.append(len(texts))
        threading.Event().wait(0.02)
        return np.stack([vector_of(text) for text in texts])


def vector_of(text: str) -> np.ndarray:
    rng = np.random.default_rng(abs(hash(text)) % (2**32))
    vector = rng.normal(size=8).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_each_concurrent_caller_gets_its_own_vector_from_shared_batches() -> None:
    fake = SlowFakeEncoder()
    encoder = BatchingEncoder(fake, max_batch=16, max_wait=0.005)
    texts = [f"question number {i}" for i in range(96)]
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(lambda t: encoder.encode([t])[0], texts))
    finally:
        encoder.close()
    for text, vector in zip(texts, results, strict=True):
        np.testing.assert_allclose(vector, vector_of(text), rtol=1e-6)
    assert sum(fake.calls) == len(texts)
    assert len(fake.calls) < len(texts) / 2 and max(fake.calls) <= 16  # batched, within the cap


def test_a_list_is_encoded_in_order_and_empty_lists_skip_the_model() -> None:
    fake = SlowFakeEncoder()
    encoder = BatchingEncoder(fake, max_batch=4, max_wait=0.0)
    try:
        vectors = encoder.encode(["a", "b", "c", "d", "e", "f"])
        assert vectors.shape == (6, 8)
        np.testing.assert_allclose(vectors[4], vector_of("e"), rtol=1e-6)
        assert encoder.encode([]).shape == (0, 8)
        assert encoder.submit("g").result(timeout=5).shape == (8,)
    finally:
        encoder.close()


def test_a_failing_batch_fails_every_caller_in_it_and_the_batcher_goes_on() -> None:
    def process(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        return [item * 2 for item in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(process, max_batch=8, max_wait=0.0)
    try:
        with pytest.raises(ValueError, match="unlucky"):
            batcher(13)
        assert batcher(21) == 42
    finally:
        batcher.close()
    with pytest.raises(RuntimeError):
        batcher.submit(1)


def test_a_process_returning_the_wrong_number_of_results_is_an_error() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: [], max_wait=0.0)
    try:
        with pytest.raises(RuntimeError, match="0 results for 1 items"):
            batcher(1)
    finally:
        batcher.close()
