"""Encode the bundled knowledge pack once, at install time, into the read-only seed of the embedding cache.

`make setup` and the image build run `python -m knowledge.seed` after the ONNX export, so a bot's first start reads
the pack's vectors (and its calibration questions') instead of encoding them: seconds instead of a quarter minute
on two cores. Texts are keyed by content hash and the file by model, so a seed that no longer fits (a changed
entry, another model) costs only the re-encoding of what changed, never a wrong vector.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path


def build(seed_dir: Path, backend: str = "onnx") -> tuple[Path, int, float]:
    """Encode the bundled pack and its calibration questions into `seed_dir`: (the file, texts encoded, seconds)."""
    from knowledge.cache import EmbeddingCache
    from knowledge.calibration import calibrate
    from knowledge.embedder import get_embedder
    from knowledge.index import KnowledgeIndex
    from knowledge.loader import BUNDLED_DOCS, load_entries

    started = time.perf_counter()
    encoder = get_embedder(backend)
    name = getattr(encoder, "name", "encoder")
    cache = EmbeddingCache(seed_dir, name)
    index = KnowledgeIndex.build(load_entries([BUNDLED_DOCS]), encoder, cache)
    encoded = cache.misses
    calibrate(index, encoder, cache)
    encoded += cache.misses
    path = seed_dir / f"embeddings-{name}.npy"
    path.chmod(0o644)  # written as its builder (root in an image build), read by whoever serves
    return path, encoded, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    from knowledge.cache import seed_directory
    from knowledge.embedder import BACKENDS

    parser = argparse.ArgumentParser(description="Encode the bundled knowledge pack into the install-time seed.")
    parser.add_argument("--to", type=Path, default=None, help="the seed folder (default: <env>/share/torchtutor)")
    parser.add_argument("--backend", choices=BACKENDS, default="onnx")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    path, encoded, seconds = build(args.to or seed_directory(), args.backend)
    print(f"{path}: {encoded} texts encoded in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
