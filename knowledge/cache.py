"""An on-disk cache of text embeddings keyed by model and content hash, so restarts re-encode nothing."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """The cache key of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class EmbeddingCache:
    """Vectors by text hash, stored as one .npz per model; writes are atomic renames."""

    def __init__(self, directory: Path | None, model_name: str) -> None:
        self._path = directory / f"embeddings-{model_name}.npz" if directory else None
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._path is None or not self._path.exists():
            return
        try:
            with np.load(self._path) as data:
                self._vectors = {key: data[key] for key in data.files}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable embedding cache %s: %s", self._path, exc)

    def encode(self, texts: list[str], encoder) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Vectors for texts, encoding (and saving) only those not cached yet."""
        with self._lock:
            self._load()
            keys = [text_key(t) for t in texts]
            missing = sorted({(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._vectors})
            if missing:
                fresh = encoder.encode([t for _, t in missing])
                self._vectors.update({k: v for (k, _), v in zip(missing, fresh, strict=True)})
                self._save()
            self.misses = len(missing)
            if not keys:
                return np.zeros((0, encoder.dimension), dtype=np.float32)
            return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **self._vectors)
            os.replace(tmp, self._path)
        except OSError as exc:
            log.warning("could not write embedding cache %s: %s", self._path, exc)
            Path(tmp).unlink(missing_ok=True)


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
