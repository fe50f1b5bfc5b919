"""tensor-to-device: move a float32 tensor to the best device and time the copy each way."""

from __future__ import annotations

from typing import Any

from workers.demos._common import device_note, fit_text, json_safe, source_of
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.device import best_device

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50_000_000,
            "default": 1_000_000,
            "description": "Number of float32 elements to copy (4 bytes each).",
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
    """Copy `size` float32 values host -> `device` -> host; the best of `repeats` times each way, in ms."""
    import time

    import torch

    def wait() -> None:
        if device == "cuda":
            torch.cuda.synchronize()  # CUDA work is asynchronous: wait before reading the clock
        elif device == "mps":
            torch.mps.synchronize()

    host = torch.rand(size, dtype=torch.float32)
    if pinned:
        host = host.pin_memory()  # page-locked, so the GPU can copy it directly (DMA)
    host.to(device, copy=True)  # warm-up: the first copy also pays for start-up costs
    wait()
    h2d = d2h = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        on_device = host.to(device, copy=True)  # copy=True: even to "cpu" this makes a real copy
        wait()
        middle = time.perf_counter()
        back = on_device.to("cpu", copy=True)
        wait()
        h2d, d2h = min(h2d, middle - start), min(d2h, time.perf_counter() - middle)
    return {"h2d_ms": h2d * 1e3, "d2h_ms": d2h * 1e3, "round_trip_equal": torch.equal(host, back)}


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Time pageable copies (and pinned ones on CUDA) and explain the numbers."""
    values = validate_params(DEMO, params)
    size, device = values["size"], best_device()
    progress(0.0, "allocating the tensor")
    pageable = time_copies(size, device)
    pinned = None
    if device == "cuda" and values["pinned"]:
        progress(0.5, "timing pinned memory")
        pinned = time_copies(size, device, pinned=True)
    progress(1.0, "done")
    metrics = _metrics(size, device, pageable, pinned)
    return DemoOutput(text=_text(metrics), code=source_of(time_copies), metrics=metrics, device=device)


def _gbps(num_bytes: int, ms: float) -> float:
    """Bytes moved per second, in GB/s."""
    return round(num_bytes / max(ms, 1e-6) / 1e6, 2)


def _metrics(
    size: int, device: str, pageable: dict[str, Any], pinned: dict[str, Any] | None
) -> dict[str, Any]:
    """The numbers behind the text."""
    num_bytes = size * 4
    return json_safe(
        {
            "device": device,
            "size": size,
            "bytes": num_bytes,
            "h2d_ms": round(pageable["h2d_ms"], 4),
            "d2h_ms": round(pageable["d2h_ms"], 4),
            "h2d_gbps": _gbps(num_bytes, pageable["h2d_ms"]),
            "d2h_gbps": _gbps(num_bytes, pageable["d2h_ms"]),
            "pinned_h2d_ms": round(pinned["h2d_ms"], 4) if pinned else None,
            "pinned_h2d_gbps": _gbps(num_bytes, pinned["h2d_ms"]) if pinned else None,
            "round_trip_equal": pageable["round_trip_equal"]
            and (pinned is None or pinned["round_trip_equal"]),
        }
    )


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    device = m["device"]
    lines = [
        f"**Tensor to device**: {m['size']:,} float32 values = {m['bytes'] / 1e6:,.1f} MB.",
        device_note(device),
        f"• host → {device}: {m['h2d_ms']:.3f} ms ({m['h2d_gbps']:g} GB/s)",
        f"• {device} → host: {m['d2h_ms']:.3f} ms ({m['d2h_gbps']:g} GB/s)",
    ]
    if m["pinned_h2d_gbps"] is not None:
        lines.append(f"• pinned host → cuda: {m['pinned_h2d_ms']:.3f} ms ({m['pinned_h2d_gbps']:g} GB/s)")
        lines.append("Pinned (page-locked) memory skips a staging copy, so the GPU can pull it directly.")
    elif device == "cpu":
        lines.append(
            'Here `.to("cpu", copy=True)` is a plain memory copy; pinned memory only matters for CUDA.'
        )
    lines.append(f"The copy came back bit-for-bit equal: {'yes' if m['round_trip_equal'] else 'NO'}.")
    lines.append("Lesson: each `.to(device)` crosses the bus; move data once, not every step.")
    return fit_text("\n".join(lines))


DEMO = Demo(
    name="tensor-to-device",
    title="Moving a tensor to the GPU",
    summary="Copies a float32 tensor to the best device and back, timing pageable and pinned memory.",
    params=PARAMS,
    run=run,
    time_limit_s=30.0,
    queue="gpu",
    tags=("device", "cuda", "memory"),
)
