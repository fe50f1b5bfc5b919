"""tensor-to-device: move a float32 tensor to the best device and back, timing each way and first-touch cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workers.demos._common import device_note, fit_text, json_metrics, source_of
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.device import best_device, describe_device

CPU_DEFAULT_SIZE = 1_000_000
GPU_DEFAULT_SIZE = 16_777_216  # 64 MiB: small copies are dominated by fixed costs and never show the link's speed

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50_000_000,
            "description": (
                f"Number of float32 elements to copy (4 bytes each); default {GPU_DEFAULT_SIZE:,} (64 MiB) "
                f"on a GPU, {CPU_DEFAULT_SIZE:,} on the CPU."
            ),
        },
        "pinned": {
            "type": "boolean",
            "default": True,
            "description": "Also time pinned (page-locked) host memory; only used with CUDA.",
        },
    },
    "additionalProperties": False,
}


def time_copies(size: int, device: str, pinned: bool = False, repeats: int = 3) -> dict[str, Any]:
    """Copy `size` float32 values host -> `device` -> host into buffers allocated once; best times in ms.

    Also times the device -> host copy into *fresh* host memory (`.to("cpu")`), which pays for the operating
    system mapping each new page on first touch.
    """
    import time

    import torch

    def wait() -> None:
        if device == "cuda":
            torch.cuda.synchronize()  # CUDA work is asynchronous: wait before reading the clock
        elif device == "mps":
            torch.mps.synchronize()

    host = torch.rand(size, dtype=torch.float32, pin_memory=pinned)  # pinned: page-locked, so DMA reads it
    on_device = torch.empty(size, dtype=torch.float32, device=device)  # destinations allocated once,
    back = torch.empty(size, dtype=torch.float32, pin_memory=pinned)  # outside the timed loop
    on_device.copy_(host)  # warm-up: the first copy also pays for start-up costs and touches every page
    back.copy_(on_device)
    wait()
    h2d = d2h = fresh = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        on_device.copy_(host, non_blocking=pinned)
        wait()
        middle = time.perf_counter()
        back.copy_(on_device, non_blocking=pinned)
        wait()
        h2d, d2h = min(h2d, middle - start), min(d2h, time.perf_counter() - middle)
        start = time.perf_counter()
        on_device.to("cpu", copy=True)  # new host memory each time: first-touch page faults are timed too
        wait()
        fresh = min(fresh, time.perf_counter() - start)
    return {
        "h2d_ms": h2d * 1e3,
        "d2h_ms": d2h * 1e3,
        "d2h_fresh_ms": fresh * 1e3,
        "round_trip_equal": torch.equal(host, back),
    }


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Time copies on the best device this worker has."""
    return run_on(best_device(), params, progress)


def run_on(
    device: str,
    params: dict[str, Any],
    progress: ProgressFn,
    timer: Callable[..., dict[str, Any]] = time_copies,
    device_name: str | None = None,
) -> DemoOutput:
    """Time pageable copies (and pinned ones on CUDA) on `device` and explain the numbers."""
    values = validate_params(DEMO, params)
    size = values.get("size") or (GPU_DEFAULT_SIZE if device == "cuda" else CPU_DEFAULT_SIZE)
    progress(0.0, f"allocating {size * 4 / 1e6:,.0f} MB")
    pageable = timer(size, device)
    pinned = None
    if device == "cuda" and values["pinned"]:
        progress(0.5, "timing pinned memory")
        pinned = timer(size, device, pinned=True)
    progress(1.0, "done")
    metrics = _metrics(size, device, pageable, pinned) | {"device_name": device_name or describe_device(device)}
    return DemoOutput(text=_text(metrics), code=source_of(time_copies), metrics=metrics, device=device)


def _gbps(num_bytes: int, ms: float) -> float:
    """Bytes moved per second, in GB/s."""
    return round(num_bytes / max(ms, 1e-6) / 1e6, 2)


def _metrics(
    size: int, device: str, pageable: dict[str, Any], pinned: dict[str, Any] | None
) -> dict[str, Any]:
    """The numbers behind the text."""
    num_bytes = size * 4
    metrics: dict[str, Any] = {"device": device, "size": size, "bytes": num_bytes}
    for prefix, timed, keys in (("", pageable, ("h2d", "d2h", "d2h_fresh")), ("pinned_", pinned, ("h2d", "d2h"))):
        for key in keys:
            ms = timed[f"{key}_ms"] if timed else None
            metrics[f"{prefix}{key}_ms"] = round(ms, 4) if ms is not None else None
            metrics[f"{prefix}{key}_gbps"] = _gbps(num_bytes, ms) if ms is not None else None
    metrics["round_trip_equal"] = pageable["round_trip_equal"] and (pinned is None or pinned["round_trip_equal"])
    return json_metrics(metrics)


def _row(label: str, m: dict[str, Any], key: str) -> str:
    return f"• {label}: {m[key + '_ms']:.3f} ms ({m[key + '_gbps']:g} GB/s)"


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    device = m["device"]
    lines = [
        f"**Tensor to device**: {m['size']:,} float32 values = {m['bytes'] / 1e6:,.1f} MB, "
        "copied into buffers allocated once.",
        device_note("cpu") if device == "cpu" else f"Ran on the {m['device_name']}.",
        _row(f"host → {device}", m, "h2d"),
        _row(f"{device} → host", m, "d2h"),
    ]
    if m["pinned_h2d_gbps"] is not None:
        lines.append(_row(f"pinned host → {device}", m, "pinned_h2d"))
        lines.append(_row(f"{device} → pinned host", m, "pinned_d2h"))
        lines.append("Pinned (page-locked) memory skips a staging copy, so the GPU's DMA engine reads it directly.")
    elif device == "cpu":
        lines.append("On the CPU both copies are plain memory copies; pinned memory only matters for CUDA.")
    lines.append(_row(f"{device} → fresh host memory (`.to(\"cpu\")`)", m, "d2h_fresh"))
    lines.append(
        "First touch: new host memory is only mapped by the operating system when first written, page by "
        "page, so copying into a fresh tensor also times those page faults. Reuse a buffer (`out.copy_(x)`) "
        "in a loop."
    )
    lines.append(f"The copy came back bit-for-bit equal: {'yes' if m['round_trip_equal'] else 'NO'}.")
    lines.append("Lesson: each `.to(device)` crosses the bus; move data once, not every step.")
    return fit_text("\n".join(lines))


DEMO = Demo(
    name="tensor-to-device",
    title="Moving a tensor to the GPU",
    summary="Copies a float32 tensor to the best device and back (pageable, pinned, fresh memory) and times it.",
    params=PARAMS,
    run=run,
    time_limit_s=30.0,
    queue="gpu",
    tags=("device", "cuda", "memory"),
)
