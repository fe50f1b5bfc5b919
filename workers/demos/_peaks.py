"""Data-sheet peak matrix throughput of GPUs we know by name, so a demo can say what fraction it reached."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Peak:
    """Dense (no 2:4 sparsity) peak TFLOP/s: float32 on CUDA cores, TF32 and bf16 on tensor cores."""

    model: str
    float32: float
    tf32: float
    bfloat16: float


# NVIDIA data sheets quote tensor-core figures "with sparsity"; these are the dense halves. First match wins,
# so the more specific names (H100 NVL, L40S, A100) come before the names they contain (H100, L4, A10).
_KNOWN: tuple[tuple[str, Peak], ...] = (
    (r"\bH100\b.*\bNVL\b", Peak("H100 NVL", 60.0, 417.5, 835.5)),
    (r"\bH100\b.*\bPCIe\b", Peak("H100 PCIe", 51.0, 378.0, 756.0)),
    (r"\bH100\b", Peak("H100 SXM", 67.0, 494.7, 989.4)),
    (r"\bH200\b.*\bNVL\b", Peak("H200 NVL", 60.0, 417.5, 835.5)),
    (r"\bG?H200\b", Peak("H200 SXM", 67.0, 494.7, 989.4)),
    (r"\bA100\b", Peak("A100", 19.5, 156.0, 312.0)),
    (r"\bL40S\b", Peak("L40S", 91.6, 183.0, 362.0)),
    (r"\bL4\b", Peak("L4", 30.3, 60.0, 121.0)),
    (r"\bA10\b", Peak("A10", 31.2, 62.5, 125.0)),
)


def known_peak(device_name: str) -> Peak | None:
    """The data-sheet peak of the GPU called `device_name` ("NVIDIA H100 80GB HBM3"), or None when unknown."""
    for pattern, peak in _KNOWN:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return peak
    return None
