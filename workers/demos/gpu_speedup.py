"""gpu-speedup: time square matrix products on the CPU and on the GPU, with a warm-up and synchronisation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from workers.demos._common import (
    device_note,
    figure_png,
    fit_text,
    json_metrics,
    new_figure,
    ratio_text,
    source_of,
)
from workers.demos._params import validate_params
from workers.demos._peaks import known_peak
from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.device import best_device, describe_device
from workers.errors import DemoParamError

CPU_MAX_SIZE = 4096  # an 8192² float32 product takes the CPU seconds per repeat; the GPU well under one
PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sizes": {
            "type": "array",
            "items": {"type": "integer", "minimum": 64, "maximum": 8192},
            "minItems": 1,
            "maxItems": 4,
            "default": [256, 512, 1024],
            "description": (
                "Sizes n of n×n products (1 to 4 of them, each 64 to 4096, or up to 8192 on a GPU worker), "
                "e.g. sizes=256,1024."
            ),
        }
    },
    "additionalProperties": False,
}
GPU_PRECISIONS = ("float32", "tf32", "bfloat16")


@contextmanager
def tf32_matmuls(enabled: bool) -> Iterator[None]:
    """Let float32 matmuls on CUDA use TF32 tensor cores (10-bit mantissa) inside the block, or forbid it."""
    import torch

    matmul = torch.backends.cuda.matmul
    # torch >= 2.9 names the setting fp32_precision; older ones only know allow_tf32.
    name = "fp32_precision" if hasattr(matmul, "fp32_precision") else "allow_tf32"
    before = getattr(matmul, name)
    setattr(matmul, name, ("tf32" if enabled else "ieee") if name == "fp32_precision" else enabled)
    try:
        yield
    finally:
        setattr(matmul, name, before)


def time_matmul(n: int, device: str, precision: str = "float32", repeats: int = 3) -> float:
    """Milliseconds for one n×n matrix product on `device`: best of `repeats`, after a warm-up.

    precision: "float32", "tf32" (float32 tensors, TF32 tensor cores) or "bfloat16" (CUDA only for the last two).
    """
    import time

    import torch

    def wait() -> None:
        if device == "cuda":
            torch.cuda.synchronize()  # without this we would time the kernel launch, not the work
        elif device == "mps":
            torch.mps.synchronize()

    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    if precision == "bfloat16":
        a, b = a.bfloat16(), b.bfloat16()  # what torch.autocast does before a matmul, done once outside the timer
    with tf32_matmuls(precision == "tf32") if device == "cuda" else nullcontext():
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
    """Time each size on the CPU and on the GPU this worker has, if any."""
    return run_on(best_device(), params, progress)


def run_on(
    device: str,
    params: dict[str, Any],
    progress: ProgressFn,
    timer: Callable[..., float] = time_matmul,
    device_name: str | None = None,
) -> DemoOutput:
    """Time each size on the CPU and, when `device` is an accelerator, on it (TF32 and bf16 too on CUDA)."""
    sizes = validate_params(DEMO, params)["sizes"]
    if device == "cpu" and max(sizes) > CPU_MAX_SIZE:
        raise DemoParamError("sizes", f"above {CPU_MAX_SIZE:,} needs a GPU worker; this one has only a CPU")
    precisions = GPU_PRECISIONS if device == "cuda" else ("float32",) if device != "cpu" else ()
    timings: dict[str, list[float | None]] = {name: [] for name in ("cpu", *precisions)}
    progress(0.0, "starting")
    for index, n in enumerate(sizes):
        progress(index / len(sizes), f"{n}×{n} on the CPU")
        cpu_ok = device == "cpu" or n <= CPU_MAX_SIZE
        timings["cpu"].append(timer(n, "cpu", "float32", _repeats(n, "cpu")) if cpu_ok else None)
        for precision in precisions:
            progress((index + 0.5) / len(sizes), f"{n}×{n} on the GPU in {precision}")
            timings[precision].append(timer(n, device, precision, _repeats(n, device)))
    progress(1.0, "done")
    name = device_name or describe_device(device)
    metrics = _metrics(sizes, device, name, timings)
    return DemoOutput(
        text=_text(metrics), code=source_of(time_matmul), metrics=metrics, device=device, images=(_plot(metrics),)
    )


def _gflops(n: int, ms: float | None) -> float | None:
    """Floating-point operations per second of an n×n product (2n³ operations), in GFLOP/s."""
    return float(f"{2 * n**3 / max(ms, 1e-6) / 1e6:.4g}") if ms is not None else None


def _metrics(sizes: list[int], device: str, name: str, timings: dict[str, list[float | None]]) -> dict[str, Any]:
    """The numbers behind the text and the plot; GPU columns are None where they were not timed."""
    cpu, gpu = timings["cpu"], timings.get("float32")
    columns = {"gpu": "float32", "tf32": "tf32", "bf16": "bfloat16"}
    metrics: dict[str, Any] = {"device": device, "device_name": name, "sizes": sizes}
    metrics["cpu_ms"] = [round(t, 4) if t is not None else None for t in cpu]
    metrics["cpu_gflops"] = [_gflops(n, t) for n, t in zip(sizes, cpu, strict=True)]
    for key, precision in columns.items():
        times = timings.get(precision)
        metrics[f"{key}_ms"] = [round(t, 4) for t in times if t is not None] if times else None
        metrics[f"{key}_gflops"] = [_gflops(n, t) for n, t in zip(sizes, times, strict=True)] if times else None
    metrics["speedup"] = (
        [round(c / max(g, 1e-6), 2) if c is not None and g is not None else None for c, g in zip(cpu, gpu, strict=True)]
        if gpu
        else None
    )
    metrics["peak"] = _peak_fractions(metrics) if device == "cuda" else None
    return json_metrics(metrics)


def _peak_fractions(m: dict[str, Any]) -> dict[str, Any]:
    """The data-sheet peak of this GPU and the fraction of it the largest size reached in each precision."""
    peak = known_peak(m["device_name"])
    if peak is None:
        return {"model": None}
    largest = max(range(len(m["sizes"])), key=lambda i: m["sizes"][i])
    result: dict[str, Any] = {"model": peak.model}
    for key, precision in (("gpu", "float32"), ("tf32", "tf32"), ("bf16", "bfloat16")):
        reached = m[f"{key}_gflops"][largest] / 1e3
        result[precision] = {"tflops": float(f"{reached:.3g}"), "peak_tflops": getattr(peak, precision),
                             "fraction": float(f"{reached / getattr(peak, precision):.3g}")}
    return result


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    lines = ["**GPU speed-up**: one n×n matrix product (`a @ b`), best time after a warm-up."]
    for i, n in enumerate(m["sizes"]):
        lines.append(_row(m, i, n))
    if m["gpu_ms"] is None:
        lines.append(
            device_note("cpu") + " So there is no GPU column; on a GPU worker big sizes win by 10-100×."
        )
    else:
        lines.append(f"Ran on the {m['device_name']}.")
        lines.append("Small products barely gain: launching a kernel costs a few microseconds whatever the size.")
    if m["tf32_ms"] is not None:
        lines.append(
            "TF32: float32 tensors, but tensor cores round the inputs to a 10-bit mantissa; allowed with "
            "`torch.backends.cuda.matmul.allow_tf32 = True` (torch ≥ 2.9: `.fp32_precision = \"tf32\"`), off by "
            "default. bf16: `with torch.autocast(\"cuda\", dtype=torch.bfloat16):` runs matmuls in bfloat16 "
            "(8-bit mantissa); here the inputs were cast once, outside the timer."
        )
        lines.append(_peak_line(m["peak"], m["sizes"]))
    lines.append("GPU work is asynchronous, so the timer waits with `torch.cuda.synchronize()`.")
    return fit_text("\n".join(lines))


def _row(m: dict[str, Any], i: int, n: int) -> str:
    """One size's line: CPU, then each GPU column that was timed."""
    if m["cpu_ms"][i] is None:
        row = f"• {n}×{n}: CPU skipped (too slow at this size)"
    else:
        row = f"• {n}×{n}: CPU {m['cpu_ms'][i]:.3g} ms ({m['cpu_gflops'][i]:.3g} GFLOP/s)"
    if m["gpu_ms"] is not None:
        row += f", GPU {m['gpu_ms'][i]:.3g} ms"
        if m["speedup"][i] is not None:
            speedup = m["speedup"][i]
            row += f" → {speedup:.3g}× {'faster' if speedup >= 1 else '(slower: launch costs dominate)'}"
    if m["tf32_ms"] is not None:
        row += f"; TF32 {m['tf32_ms'][i]:.3g} ms, bf16 {m['bf16_ms'][i]:.3g} ms"
    return row


def _peak_line(peak: dict[str, Any], sizes: list[int]) -> str:
    """What fraction of the device's data-sheet peak the largest product reached, or why we cannot say."""
    if peak["model"] is None:
        return "Peak of this GPU: unknown (not in my table of data sheets), so no fraction of peak is given."
    parts = [
        f"{label} {peak[p]['tflops']:g} of {peak[p]['peak_tflops']:g} TFLOP/s ({ratio_text(peak[p]['fraction'])})"
        for label, p in (("float32", "float32"), ("TF32", "tf32"), ("bf16", "bfloat16"))
    ]
    line = f"At {max(sizes)}, of the {peak['model']}'s dense data-sheet peak: " + "; ".join(parts) + "."
    if any(peak[p]["fraction"] > 1 for p in GPU_PRECISIONS):
        line += " Over 100% cannot be: this GPU is not the one my table names, or the timer missed work."
    return line


def _plot(m: dict[str, Any]) -> bytes:
    """PNG of time against matrix size, log-log, one line per device and precision."""
    figure = new_figure()
    axes = figure.add_subplot()
    cpu = [(n, t) for n, t in zip(m["sizes"], m["cpu_ms"], strict=True) if t is not None]
    if cpu:
        axes.plot(*zip(*cpu, strict=True), "o-", label="CPU")
    for key, label in (("gpu_ms", m["device_name"]), ("tf32_ms", "TF32"), ("bf16_ms", "bf16")):
        if m[key] is not None:
            axes.plot(m["sizes"], m[key], "s-", label=label)
    axes.set(xscale="log", yscale="log", xlabel="n (n×n @ n×n)", ylabel="ms", title="Matrix product time")
    axes.legend()
    return figure_png(figure)


DEMO = Demo(
    name="gpu-speedup",
    title="How much faster is the GPU?",
    summary="Times n×n matrix products on the CPU and the GPU (float32, TF32, bf16) and plots time vs size.",
    params=PARAMS,
    run=run,
    time_limit_s=60.0,
    queue="gpu",
    tags=("cuda", "performance"),
)
