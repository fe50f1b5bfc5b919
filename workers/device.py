"""Which accelerator this worker has, said in words a learner understands."""

from __future__ import annotations


def best_device() -> str:
    """ "cuda" when a CUDA GPU is usable, else "mps" on Apple silicon, else "cpu"."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def describe_device(device: str) -> str:
    """A human name for `device`: "NVIDIA H100 80GB HBM3 (CUDA GPU)", "CPU (this worker has no GPU)"."""
    import torch

    parsed = torch.device(device)
    if parsed.type == "cuda":
        return f"{torch.cuda.get_device_name(parsed.index)} (CUDA GPU)"
    if parsed.type == "mps":
        return "Apple GPU (MPS)"
    if parsed.type == "cpu":
        return "CPU (this worker has no GPU)" if best_device() == "cpu" else "CPU"
    return parsed.type
