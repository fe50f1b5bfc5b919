"""What the GPU demos teach, checked on the CPU: buffers reused for copies, the TF32/bf16 columns only where CUDA
is reported, the fraction of a known peak, train-tiny's device and small ratios written readably."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from workers.demos import DemoParamError, get_demo, gpu_speedup, tensor_to_device, train_tiny
from workers.demos._common import ratio_text
from workers.demos._peaks import known_peak
from workers.device import best_device

cpu_only = pytest.mark.skipif(best_device() != "cpu", reason="checks what a worker without a GPU shows")


def quiet(fraction: float, stage: str) -> None:
    """A progress callback that ignores progress."""


class OpLog(TorchDispatchMode):
    """Records each aten op with its first argument, through torch's public dispatch-mode hook."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.calls.append((func.__name__, args[0] if args else None))
        return func(*args, **(kwargs or {}))


# --- tensor-to-device ------------------------------------------------------------------------------------


def test_device_to_host_copies_land_in_one_preallocated_buffer() -> None:
    with OpLog() as log:
        timed = tensor_to_device.time_copies(4096, "cpu", repeats=3)
    copies = [target for name, target in log.calls if name.startswith("copy_")]
    assert len(copies) == 2 + 2 * 3  # warm-up both ways, then each repeat both ways
    destinations = {tensor.data_ptr() for tensor in copies}
    assert len(destinations) == 2  # the device buffer and the host buffer, reused every time
    fresh = [name for name, _ in log.calls if name.startswith("_to_copy")]
    assert len(fresh) == 3  # the first-touch comparison allocates anew on purpose, once per repeat
    assert timed["round_trip_equal"] is True
    assert timed["d2h_ms"] > 0 and timed["d2h_fresh_ms"] > 0


@cpu_only
def test_cpu_worker_keeps_the_small_default_and_teaches_first_touch() -> None:
    output = get_demo("tensor-to-device").run({}, quiet)
    metrics = output.metrics
    assert metrics["size"] == tensor_to_device.CPU_DEFAULT_SIZE
    assert metrics["d2h_fresh_gbps"] > 0 and metrics["pinned_h2d_gbps"] is None
    assert "First touch" in output.text and "pinned" not in output.text.split("\n")[2]


def test_on_cuda_the_default_shows_the_link_and_times_pinned_both_ways() -> None:
    calls: list[tuple[int, str, bool]] = []

    def timer(size: int, device: str, pinned: bool = False) -> dict[str, Any]:
        calls.append((size, device, pinned))
        return tensor_to_device.time_copies(1000, "cpu", repeats=1)  # real numbers, just not from a GPU

    output = tensor_to_device.run_on("cuda", {}, quiet, timer=timer, device_name="NVIDIA H200 (CUDA GPU)")
    assert calls == [(16_777_216, "cuda", False), (16_777_216, "cuda", True)]
    assert output.metrics["bytes"] >= 64 * 2**20
    assert output.metrics["pinned_h2d_gbps"] > 0 and output.metrics["pinned_d2h_gbps"] > 0
    lines = output.text.split("\n")
    assert lines[1] == "Ran on the NVIDIA H200 (CUDA GPU)."
    assert any(line.startswith("• pinned host → cuda:") for line in lines)
    assert any(line.startswith("• cuda → pinned host:") for line in lines)
    assert any(line.startswith("• cuda → fresh host memory") for line in lines)


# --- gpu-speedup -----------------------------------------------------------------------------------------


def cpu_timer(calls: list[tuple[int, str, str]]) -> Any:
    """A timer that records what it was asked and times a real product on the CPU instead."""

    def timer(n: int, device: str, precision: str = "float32", repeats: int = 1) -> float:
        calls.append((n, device, precision))
        return gpu_speedup.time_matmul(64, "cpu", "float32", 1)

    return timer


@cpu_only
def test_no_tf32_or_bf16_column_on_the_cpu() -> None:
    output = get_demo("gpu-speedup").run({"sizes": "64"}, quiet)
    assert output.metrics["tf32_ms"] is None and output.metrics["bf16_ms"] is None
    assert output.metrics["peak"] is None
    assert "TF32" not in output.text and "bf16" not in output.text


def test_tf32_and_bf16_columns_and_peak_fraction_when_cuda_is_reported() -> None:
    calls: list[tuple[int, str, str]] = []
    output = gpu_speedup.run_on("cuda", {"sizes": "256,8192"}, quiet, timer=cpu_timer(calls),
                                device_name="NVIDIA H100 80GB HBM3")
    assert calls == [
        (256, "cpu", "float32"), (256, "cuda", "float32"), (256, "cuda", "tf32"), (256, "cuda", "bfloat16"),
        (8192, "cuda", "float32"), (8192, "cuda", "tf32"), (8192, "cuda", "bfloat16"),  # no 8192² on the CPU
    ]
    metrics = output.metrics
    assert len(metrics["tf32_ms"]) == 2 and len(metrics["bf16_ms"]) == 2
    assert metrics["cpu_ms"][1] is None and metrics["speedup"][1] is None
    peak = metrics["peak"]
    assert peak["model"] == "H100 SXM" and peak["bfloat16"]["peak_tflops"] == 989.4
    reached = 2 * 8192**3 / (metrics["bf16_ms"][1] / 1e3) / 1e12
    assert peak["bfloat16"]["fraction"] == pytest.approx(reached / 989.4, rel=0.01)
    text = output.text
    assert "• 8192×8192: CPU skipped" in text and "TF32" in text and "bf16" in text
    assert "torch.backends.cuda.matmul.allow_tf32" in text and "torch.autocast" in text
    assert "At 8192, of the H100 SXM's dense data-sheet peak: float32 " in text
    assert len(text) <= 1500


def test_an_unknown_gpu_gets_an_honest_unknown_peak() -> None:
    output = gpu_speedup.run_on("cuda", {"sizes": "64"}, quiet, timer=cpu_timer([]), device_name="Quadro K420")
    assert output.metrics["peak"] == {"model": None}
    assert "Peak of this GPU: unknown" in output.text and "data-sheet peak:" not in output.text


def test_a_fraction_above_the_peak_is_called_impossible_not_printed_proudly() -> None:
    def too_fast(n: int, device: str, precision: str = "float32", repeats: int = 1) -> float:
        return 1e-3  # 1 µs for 2·1024³ operations: far beyond any GPU
    output = gpu_speedup.run_on("cuda", {"sizes": "1024"}, quiet, timer=too_fast, device_name="NVIDIA A100-SXM4-80GB")
    assert output.metrics["peak"]["float32"]["fraction"] > 1
    assert "Over 100% cannot be" in output.text


def test_a_fraction_below_the_peak_needs_no_warning() -> None:
    def plausible(n: int, device: str, precision: str = "float32", repeats: int = 1) -> float:
        return 2 * n**3 / 10e12 * 1e3  # 10 TFLOP/s in every precision: under the A100's peaks
    output = gpu_speedup.run_on("cuda", {"sizes": "1024"}, quiet, timer=plausible, device_name="NVIDIA A100-SXM4-80GB")
    assert output.metrics["peak"]["tf32"]["fraction"] == pytest.approx(10 / 156, rel=0.01)
    assert "float32 10 of 19.5 TFLOP/s (51%)" in output.text and "Over 100%" not in output.text


def test_8192_needs_a_gpu_worker() -> None:
    with pytest.raises(DemoParamError) as caught:
        gpu_speedup.run_on("cpu", {"sizes": "64,8192"}, quiet)
    assert caught.value.name == "sizes" and "needs a GPU worker" in caught.value.reason


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA H200 NVL", "H200 NVL"),
        ("NVIDIA GH200 480GB", "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA A10G", None),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_known_peaks_match_by_name(name: str, model: str | None) -> None:
    peak = known_peak(name)
    assert (peak.model if peak else None) == model


def test_tf32_switch_is_restored_after_the_block() -> None:
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with gpu_speedup.tf32_matmuls(True):
        assert matmul.fp32_precision == "tf32"
    with gpu_speedup.tf32_matmuls(False):
        assert matmul.fp32_precision == "ieee"
    assert matmul.fp32_precision == before


def test_bfloat16_products_run_on_the_cpu_too() -> None:
    assert gpu_speedup.time_matmul(64, "cpu", "bfloat16", 1) > 0


# --- train-tiny ------------------------------------------------------------------------------------------


def test_train_tiny_on_a_gpu_worker_says_why_it_used_the_cpu() -> None:
    output = train_tiny.run_on("cuda", {"steps": 5}, quiet)
    assert output.device == "cpu"
    assert "Ran on the CPU on purpose, though this worker has a GPU" in output.text
    assert "`device=cuda`" in output.text


def test_train_tiny_refuses_cuda_on_a_worker_without_it() -> None:
    with pytest.raises(DemoParamError) as caught:
        train_tiny.run_on("cpu", {"device": "cuda", "steps": 5}, quiet)
    assert caught.value.reason == "this worker has no CUDA GPU; use device=cpu"


def test_train_tiny_on_cuda_goes_to_the_gpu_queue() -> None:
    demo = get_demo("train-tiny")
    assert demo.queue_for({"device": "cuda"}) == "gpu"
    assert demo.queue_for({"device": "cpu"}) == "cpu"
    assert get_demo("gpu-speedup").queue_for({}) == "gpu"


def test_a_loss_that_fell_a_thousandfold_is_not_zero_percent() -> None:
    verdict = train_tiny._verdict(2.1, 0.00076)
    assert verdict == "The loss fell to 1/2,800 of where it started: the model learned."


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(0.48, "48%"), (0.1, "10%"), (0.031, "3.1%"), (0.0027, "0.27%"), (0.001, "0.1%"), (0.00036, "1/2,800"),
     (1.9e-5, "1/53,000"), (0.0, "0%"), (1.0, "100%")],
)
def test_ratios_are_written_readably(ratio: float, text: str) -> None:
    assert ratio_text(ratio) == text
