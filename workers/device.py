"""Which accelerator this worker has, said in words a learner understands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Device files that a GPU driver creates (NVIDIA, AMD ROCm, WSL2). Where none exists there is no GPU to count.
GPU_DRIVER_FILES = ("/dev/nvidiactl", "/proc/driver/nvidia/gpus", "/dev/kfd", "/dev/dxg")


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


def visible_gpus() -> list[str]:
    """The ids of the GPUs this process may hand to workers, one each, counted without initialising CUDA here.

    A process that initialised CUDA cannot fork usable children, and Celery's prefork parent and the bot both
    ask this. So the count comes from NVML (`torch.cuda._device_count_nvml`, what `device_count()` tries first),
    and where NVML cannot answer, from a short-lived subprocess. When CUDA_VISIBLE_DEVICES is set, its entries
    are the ids, so each worker gets the physical GPU it names.
    """
    import os

    if not gpu_driver_present():
        return []  # without importing torch: a serving process that starts the local pool stays small
    import torch

    if not torch.backends.cuda.is_built():
        return []
    count = _count_without_cuda_init(torch)
    if count <= 0:
        return []
    given = [part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    return given[:count] if given else [str(index) for index in range(count)]


def gpu_driver_present() -> bool:
    """Whether a GPU driver's device files exist (elsewhere than Linux: assumed, and torch is asked)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(Path(path).exists() for path in GPU_DRIVER_FILES)


def _count_without_cuda_init(torch: Any) -> int:
    counter = getattr(torch.cuda, "_device_count_amdsmi" if torch.version.hip else "_device_count_nvml", None)
    try:
        count = int(counter()) if counter is not None else -1
    except Exception:
        count = -1
    if count >= 0:
        return count
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                           capture_output=True, text=True, timeout=120)
    try:
        return int(probe.stdout.strip() or 0)
    except ValueError:
        return 0


def cpu_threads(processes: int) -> int:
    """Intra-op threads for each of `processes` worker processes sharing this machine's cores."""
    import os

    return max(1, (os.cpu_count() or 1) // max(1, processes))


def warm_up(threads: int | None = None) -> str:
    """Pay one-off costs before the first job (torch import, CUDA context, autograd, plotting); the device.

    `threads` caps torch's intra-op threads: worker processes that each spin up one thread per core fight
    over the cores and run several times slower than with their fair share.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    device = best_device()
    if device == "cuda":
        torch.cuda.init()
        torch.zeros(1, device="cuda").sum().item()  # creates this process's CUDA context, once
    x = torch.ones(4, requires_grad=True)
    (x * x).sum().backward()
    from workers.demos._common import new_figure

    new_figure()
    return device
