"""Which GPU device node a worker owns, read from the NVIDIA driver's /proc files without initialising CUDA.

Untested on a GPU machine so far: the jail binds `/dev/nvidia<minor>` of the worker's GPU, `/dev/nvidiactl`,
`/dev/nvidia-uvm` and the driver's library folder, and hides the other GPUs' /proc entries.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workers.sandbox.jail import GpuBinding

PROC_GPUS = Path("/proc/driver/nvidia/gpus")
DRIVER_LIBRARY = "libcuda.so.1"


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as the driver lists it."""

    bus_id: str
    minor: int
    uuid: str


def installed_gpus(root: Path = PROC_GPUS) -> list[GpuInfo]:
    """Every NVIDIA GPU of this machine, in PCI bus order (nvidia-smi's numbering)."""
    gpus: list[GpuInfo] = []
    if not root.is_dir():
        return gpus
    for entry in sorted(root.iterdir(), key=lambda path: path.name.lower()):
        try:
            fields = dict(_field(line) for line in (entry / "information").read_text().splitlines() if ":" in line)
            gpus.append(GpuInfo(entry.name, int(fields["Device Minor"]), fields.get("GPU UUID", "")))
        except (OSError, KeyError, ValueError):
            continue
    return gpus


def binding_for(visible: str, gpus: list[GpuInfo], driver_dirs: tuple[str, ...] = ()) -> GpuBinding | None:
    """The binding of the GPU that `visible` (a CUDA_VISIBLE_DEVICES entry: an index in PCI bus order, or a
    UUID or its prefix) names; None when it names none of `gpus`."""
    visible = visible.strip()
    chosen = None
    if visible.isdigit():
        index = int(visible)
        chosen = gpus[index] if index < len(gpus) else None
    elif visible:
        chosen = next((gpu for gpu in gpus if gpu.uuid and gpu.uuid.startswith(visible)), None)
    if chosen is None:
        return None
    hidden = tuple(gpu.bus_id for gpu in gpus if gpu is not chosen)
    return GpuBinding(minor=chosen.minor, hidden_bus_ids=hidden, driver_dirs=driver_dirs)


def worker_binding() -> GpuBinding | None:
    """This worker's GPU (its CUDA_VISIBLE_DEVICES holds one entry per worker), or None on a CPU worker."""
    visible = [part for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    gpus = installed_gpus()
    if not gpus:
        return None
    return binding_for(visible[0] if visible else "0", gpus, driver_library_dirs())


def driver_library_dirs() -> tuple[str, ...]:
    """The folders holding the driver's user-space library (libcuda), from the loader's cache."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return parse_ldconfig(listing)


def parse_ldconfig(listing: str) -> tuple[str, ...]:
    """Folders of `libcuda.so.1` in `ldconfig -p` output, first seen first."""
    found = re.findall(rf"^\s*{re.escape(DRIVER_LIBRARY)} \(.*\) => (\S+)$", listing, flags=re.MULTILINE)
    return tuple(dict.fromkeys(os.path.dirname(path) for path in found))


def _field(line: str) -> tuple[str, str]:
    key, _, value = line.partition(":")
    return key.strip(), value.strip()
