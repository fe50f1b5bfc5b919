"""gpu-speedup: time square matrix products on the CPU and on the GPU, with a warm-up and synchronisation."""

from __future__ import annotations

from typing import Any

from workers.demos._common import device_note, figure_png, fit_text, json_safe, new_figure, source_of
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.device import best_device, describe_device

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sizes": {
            "type": "array",
            "items": {"type": "integer", "minimum": 64, "maximum": 4096},
            "minItems": 1,
            "maxItems": 4,
            "default": [256, 512, 1024],
            "description": "Sizes n of n×n products (1 to 4 of them, each 64 to 4096), e.g. sizes=256,1024.",
        }
    },
    "additionalProperties": False,
}


def time_matmul(n: int, device: str, repeats: int = 3) -> float:
    """Milliseconds for one n×n float32 matrix product on `device`: best of `repeats`, after a warm-up."""
    import time

    import torch

    def wait() -> None:
        if device == "cuda":
            torch.cuda.synchronize()  # without this we would time the kernel launch, not the work
        elif device == "mps":
            torch.mps.synchronize()

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up: the first product picks kernels and initialises libraries
    wait()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        wait()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def _repeats(n: int, device: str) -> int:
    """Enough repeats for a stable best time without spending seconds on big CPU products."""
    if device != "cpu":
        return 10
    return 5 if n <= 512 else 3 if n <= 1024 else 2 if n <= 2048 else 1


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Time each size on the CPU and, when there is one, on the GPU; plot time against size."""
    sizes = validate_params(DEMO, params)["sizes"]
    device = best_device()
    accelerator = device if device != "cpu" else None
    cpu_ms: list[float] = []
    gpu_ms: list[float] = []
    progress(0.0, "starting")
    for index, n in enumerate(sizes):
        progress(index / len(sizes), f"{n}×{n} on the CPU")
        cpu_ms.append(time_matmul(n, "cpu", _repeats(n, "cpu")))
        if accelerator:
            progress((index + 0.5) / len(sizes), f"{n}×{n} on the GPU")
            gpu_ms.append(time_matmul(n, accelerator, _repeats(n, accelerator)))
    progress(1.0, "done")
    metrics = _metrics(sizes, device, cpu_ms, gpu_ms if accelerator else None)
    return DemoOutput(
        text=_text(metrics),
        code=source_of(time_matmul),
        metrics=metrics,
        device=device,
        images=(_plot(metrics),),
    )


def _gflops(n: int, ms: float) -> float:
    """Floating-point operations per second of an n×n product (2n³ operations), in GFLOP/s."""
    return round(2 * n**3 / max(ms, 1e-6) / 1e6, 1)


def _metrics(
    sizes: list[int], device: str, cpu_ms: list[float], gpu_ms: list[float] | None
) -> dict[str, Any]:
    """The numbers behind the text and the plot."""
    return json_safe(
        {
            "device": device,
            "device_name": describe_device(device),
            "sizes": sizes,
            "cpu_ms": [round(t, 4) for t in cpu_ms],
            "gpu_ms": [round(t, 4) for t in gpu_ms] if gpu_ms else None,
            "speedup": [round(c / max(g, 1e-6), 2) for c, g in zip(cpu_ms, gpu_ms, strict=True)]
            if gpu_ms
            else None,
            "cpu_gflops": [_gflops(n, t) for n, t in zip(sizes, cpu_ms, strict=True)],
            "gpu_gflops": [_gflops(n, t) for n, t in zip(sizes, gpu_ms, strict=True)] if gpu_ms else None,
        }
    )


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    lines = ["**GPU speed-up**: one n×n float32 matrix product (`a @ b`), best time after a warm-up."]
    for i, n in enumerate(m["sizes"]):
        row = f"• {n}×{n}: CPU {m['cpu_ms'][i]:.3g} ms ({m['cpu_gflops'][i]:g} GFLOP/s)"
        if m["gpu_ms"] is not None:
            row += f", GPU {m['gpu_ms'][i]:.3g} ms → {m['speedup'][i]:g}× faster"
        lines.append(row)
    if m["gpu_ms"] is None:
        lines.append(
            device_note("cpu") + " So there is no GPU column; on a GPU worker big sizes win by 10-100×."
        )
    else:
        lines.append(device_note(m["device"]))
        lines.append(
            "Small products barely gain: launching a kernel costs a few microseconds whatever the size."
        )
    lines.append("GPU work is asynchronous, so the timer waits with `torch.cuda.synchronize()`.")
    return fit_text("\n".join(lines))


def _plot(m: dict[str, Any]) -> bytes:
    """PNG of time against matrix size, log-log, one line per device."""
    figure = new_figure()
    axes = figure.add_subplot()
    axes.plot(m["sizes"], m["cpu_ms"], "o-", label="CPU")
    if m["gpu_ms"] is not None:
        axes.plot(m["sizes"], m["gpu_ms"], "s-", label=m["device_name"])
    axes.set(xscale="log", yscale="log", xlabel="n (n×n @ n×n)", ylabel="ms", title="Matrix product time")
    axes.legend()
    return figure_png(figure)


DEMO = Demo(
    name="gpu-speedup",
    title="How much faster is the GPU?",
    summary="Times n×n matrix products on the CPU and the GPU (warm-up, synchronize) and plots time vs size.",
    params=PARAMS,
    run=run,
    time_limit_s=60.0,
    queue="gpu",
    tags=("cuda", "performance"),
)
