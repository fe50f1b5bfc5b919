"""An on-disk cache of text embeddings keyed by model and content hash, so restarts re-encode nothing.

One `.npy` file per model holds a record per text (its key and its vector); it is memory-mapped, so a start
reads only the keys and the pages of the vectors it uses, instead of decoding an archive of arrays.

Beside it, a read-only seed: the bundled knowledge pack encoded when torchtutor is installed (`make setup`, the
image build: `python -m knowledge.seed`), in the environment's `share/torchtutor`, next to the ONNX export. A first
start then encodes only what the seed lacks (entries added or changed since), instead of the whole pack.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KEY_BYTES = 32


def text_key(text: str) -> str:
    """The cache key of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_BYTES]


def seed_directory() -> Path:
    """Where the install-time seed of every model's embeddings lives (in the environment, like the ONNX export)."""
    return Path(sys.prefix) / "share" / "torchtutor"


class EmbeddingCache:
    """Vectors by text hash, stored as one memory-mapped .npy per model; writes are atomic renames. Texts found
    in the read-only seed of `seed_dir` (same file name) are taken from there and never encoded again."""

    def __init__(self, directory: Path | None, model_name: str, seed_dir: Path | None = None) -> None:
        self._path = directory / f"embeddings-{model_name}.npy" if directory else None
        seed = seed_dir / f"embeddings-{model_name}.npy" if seed_dir else None
        self._seed = EmbeddingCache(seed_dir, model_name) if seed is not None and seed != self._path else None
        self._rows: dict[str, int] = {}
        self._stored: np.ndarray | None = None  # the file's vectors, memory-mapped
        self._fresh: dict[str, np.ndarray] = {}  # encoded since, not yet in the file
        self._lock = threading.Lock()
        self._loaded = False
        self.misses = 0

    def _load(self) -> None:
        if self._seed is not None:
            self._seed._load()
        if self._loaded:
            return
        self._loaded = True
        if self._path is not None and self._path.exists():
            self._map()

    def _map(self) -> bool:
        """Map the file's records; whether it could."""
        assert self._path is not None
        try:
            records = np.load(self._path, mmap_mode="r")
            rows = {key.decode("ascii"): row for row, key in enumerate(records["key"].tolist())}
            self._rows, self._stored = rows, records["vector"]
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            log.warning("ignoring unreadable embedding cache %s: %s", self._path, exc)
            return False
        return True

    def encode(self, texts: list[str], encoder) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Vectors for texts, encoding (and saving) only those not cached yet."""
        with self._lock:
            self._load()
            keys = [text_key(t) for t in texts]
            missing = sorted({(k, t) for k, t in zip(keys, texts, strict=True) if not self._has(k)})
            if missing:
                fresh = encoder.encode([t for _, t in missing])
                self._fresh.update({k: np.asarray(v, dtype=np.float32) for (k, _), v in zip(missing, fresh,
                                                                                          strict=True)})
                self._save()
            self.misses = len(missing)
            if not keys:
                return np.zeros((0, encoder.dimension), dtype=np.float32)
            return np.stack([self._vector(k) for k in keys]).astype(np.float32, copy=False)

    def _has(self, key: str) -> bool:
        return key in self._rows or key in self._fresh or (self._seed is not None and self._seed._has(key))

    def _vector(self, key: str) -> np.ndarray:
        row = self._rows.get(key)
        if row is not None and self._stored is not None:
            return np.asarray(self._stored[row])
        if key in self._fresh or self._seed is None:
            return self._fresh[key]
        return self._seed._vector(key)

    def _save(self) -> None:
        if self._path is None:
            return
        keys = list(self._rows) + [k for k in self._fresh if k not in self._rows]
        vectors = np.stack([self._vector(k) for k in keys])
        records = np.empty(len(keys), dtype=[("key", f"S{KEY_BYTES}"), ("vector", "<f4", vectors.shape[1:])])
        records["key"] = [k.encode("ascii") for k in keys]
        records["vector"] = vectors
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, records)
            os.replace(tmp, self._path)
        except OSError as exc:
            log.warning("could not write embedding cache %s: %s", self._path, exc)
            Path(tmp).unlink(missing_ok=True)
            return
        if self._map():  # what was fresh is in the mapped file now
            self._fresh = {}


class CachingEncoder:
    """An encoder that looks texts up in an EmbeddingCache first and encodes (and stores) only the rest."""

    def __init__(self, encoder, cache: EmbeddingCache) -> None:  # type: ignore[no-untyped-def]
        self.encoder = encoder
        self.cache = cache
        self.dimension: int = encoder.dimension
        self.name: str = getattr(encoder, "name", "encoder")

    def encode(self, texts: list[str]) -> np.ndarray:
        """One vector per text."""
        return self.cache.encode(texts, self.encoder)
