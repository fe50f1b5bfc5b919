"""The demo catalogue: the registry, parameter checking, and each demo's results checked for truth."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from workers.demos import (
    DemoOutput,
    DemoParamError,
    UnknownDemo,
    backward_pass,
    dynamic_graph,
    get_demo,
    gpu_speedup,
    hooks_debugging,
    list_demos,
    numpy_interop,
    tensor_to_device,
    train_tiny,
    validate_params,
)
from workers.device import best_device, describe_device

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_GPU = "No GPU on this worker, so this ran on the CPU."
HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
without_gpu = pytest.mark.skipif(best_device() != "cpu", reason="checks the wording on a worker with no GPU")

# Small parameters for each demo, and the plain functions whose source must be shown as `code`.
SMALL: dict[str, tuple[dict[str, Any], tuple[Callable[..., Any], ...]]] = {
    "backward-pass": (
        {"x": "-1.5, 0, 2, 10"},
        (backward_pass.gradient_of_cubic, backward_pass.grad_fn_chain),
    ),
    "dynamic-graph": ({"lengths": "1,4,12"}, (dynamic_graph.run_loopy_net, dynamic_graph.count_nodes)),
    "gpu-speedup": ({"sizes": "64,128"}, (gpu_speedup.time_matmul,)),
    "hooks-debugging": ({"batch": "3"}, (hooks_debugging.trace_layers,)),
    "numpy-interop": ({}, (numpy_interop.shared_memory, numpy_interop.requires_grad_fix)),
    "tensor-to-device": ({"size": "100000"}, (tensor_to_device.time_copies,)),
    "train-tiny": ({"steps": "150", "lr": "0.05", "seed": "0"}, (train_tiny.train_mlp,)),
}


def run_demo(name: str, raw: dict[str, Any]) -> tuple[DemoOutput, list[tuple[float, str]]]:
    """Validate `raw` as the chat would, run the demo, and return its output and progress calls."""
    demo = get_demo(name)
    calls: list[tuple[float, str]] = []
    output = demo.run(validate_params(demo, raw), lambda fraction, stage: calls.append((fraction, stage)))
    return output, calls


@pytest.fixture(scope="module")
def ran() -> dict[str, tuple[DemoOutput, list[tuple[float, str]]]]:
    """Every demo run once with small parameters, shared by the tests below."""
    return {name: run_demo(name, raw) for name, (raw, _) in SMALL.items()}


# --- registry -------------------------------------------------------------------------------------------


def test_list_demos_is_the_whole_catalogue_sorted_by_name() -> None:
    names = [demo.name for demo in list_demos()]
    assert names == sorted(SMALL)


def test_get_demo_forgives_case_and_underscores() -> None:
    assert get_demo(" Tensor_To_Device ").name == "tensor-to-device"


def test_get_demo_unknown_names_the_known_ones() -> None:
    with pytest.raises(UnknownDemo) as caught:
        get_demo("warp-drive")
    assert caught.value.name == "warp-drive"
    assert caught.value.known == sorted(SMALL)
    assert "try one of: backward-pass, dynamic-graph" in str(caught.value)


@pytest.mark.parametrize("demo", list_demos(), ids=lambda demo: demo.name)
def test_schema_looks_like_json_schema(demo: Any) -> None:
    schema = demo.params
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for name, prop in schema["properties"].items():
        assert prop["type"] in {"integer", "number", "boolean", "string", "array"}, name
        # a default that depends on the worker (tensor-to-device's size) is stated in the description instead
        assert prop["description"] and ("default" in prop or "default " in prop["description"]), name
        if prop["type"] in {"integer", "number"} and "default" in prop:
            assert prop["minimum"] <= prop["default"] <= prop["maximum"], name
        if prop["type"] == "array":
            assert prop["items"]["type"] in {"integer", "number"}, name
            assert prop["minItems"] <= len(prop["default"]) <= prop["maxItems"], name
    defaults = {name: prop["default"] for name, prop in schema["properties"].items() if "default" in prop}
    assert validate_params(demo, {}) == defaults
    assert validate_params(demo, defaults) == defaults


@pytest.mark.parametrize("demo", list_demos(), ids=lambda demo: demo.name)
def test_demo_entry_is_complete(demo: Any) -> None:
    described = demo.describe()
    assert set(described) == {"name", "title", "summary", "params"}
    assert described["name"] == demo.name and described["title"] and described["summary"]
    json.dumps(described, allow_nan=False)
    assert demo.queue in {"cpu", "gpu"}
    assert 1 <= demo.time_limit_s <= 60
    assert callable(demo.run)


def test_gpu_queue_holds_the_demos_that_gain_from_a_gpu() -> None:
    assert {demo.name for demo in list_demos() if demo.queue == "gpu"} == {"tensor-to-device", "gpu-speedup"}


def test_importing_the_catalogue_imports_no_torch_numpy_or_matplotlib() -> None:
    script = (
        "import sys, workers.demos\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in {'torch', 'numpy', 'matplotlib'}]\n"
        "assert not heavy, heavy\n"
        "assert len(workers.demos.list_demos()) == 7\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- validate_params -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("tensor-to-device", {"size": "100000"}, {"size": 100_000, "pinned": True}),
        (
            "tensor-to-device",
            {"size": " 1_000_000 ", "pinned": "false"},
            {"size": 1_000_000, "pinned": False},
        ),
        ("tensor-to-device", {"size": "1e6", "pinned": "yes"}, {"size": 1_000_000, "pinned": True}),
        ("tensor-to-device", {"size": 2048.0, "pinned": False}, {"size": 2048, "pinned": False}),
        ("backward-pass", {"x": "1,2,3"}, {"x": [1.0, 2.0, 3.0]}),
        ("backward-pass", {"x": "[1, -2.5, 3e1]"}, {"x": [1.0, -2.5, 30.0]}),
        ("backward-pass", {"x": [1, 2]}, {"x": [1.0, 2.0]}),
        ("backward-pass", {"x": "4"}, {"x": [4.0]}),
        ("dynamic-graph", {"lengths": 5}, {"lengths": [5]}),
        ("dynamic-graph", {"lengths": "3 7 11"}, {"lengths": [3, 7, 11]}),
        ("train-tiny", {"lr": "0.001", "steps": 10}, {"steps": 10, "lr": 0.001, "seed": 0, "device": "cpu"}),
        ("tensor-to-device", {}, {"pinned": True}),  # the size is chosen by the worker's device
        ("hooks-debugging", {}, {"batch": 4}),
        ("numpy-interop", {}, {}),
    ],
)
def test_validate_params_coerces_chat_strings_and_json(name: str, raw: dict[str, Any], expected: Any) -> None:
    values = validate_params(get_demo(name), raw)
    assert values == expected
    assert all(type(values[key]) is type(expected[key]) for key in expected)


def test_defaults_are_copies_not_the_schema_itself() -> None:
    demo = get_demo("backward-pass")
    validate_params(demo, {})["x"].append(99.0)
    assert validate_params(demo, {})["x"] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("name", "raw", "param", "reason"),
    [
        ("tensor-to-device", {"sise": 10}, "sise", "unknown parameter; tensor-to-device takes: size, pinned"),
        ("numpy-interop", {"x": 1}, "x", "unknown parameter; numpy-interop takes no parameters"),
        ("tensor-to-device", {"size": 0}, "size", "must be between 1 and 50,000,000, got 0"),
        (
            "tensor-to-device",
            {"size": "60000000"},
            "size",
            "must be between 1 and 50,000,000, got 60,000,000",
        ),
        (
            "tensor-to-device",
            {"size": "1" + "0" * 400},
            "size",
            "must be between 1 and 50,000,000, got 10,000,000,000,000,00...",
        ),
        ("tensor-to-device", {"size": "abc"}, "size", "expected a whole number, got 'abc'"),
        ("tensor-to-device", {"size": 2.5}, "size", "expected a whole number, got 2.5"),
        ("tensor-to-device", {"size": True}, "size", "expected a whole number, got True"),
        ("tensor-to-device", {"size": ""}, "size", "expected a whole number, got nothing"),
        ("tensor-to-device", {"size": None}, "size", "expected a whole number, got nothing"),
        ("tensor-to-device", {"size": "9" * 5000}, "size", "is too long (5,000 characters)"),
        ("tensor-to-device", {"pinned": "maybe"}, "pinned", "expected true or false, got 'maybe'"),
        ("train-tiny", {"lr": "nan"}, "lr", "must be a finite number, got 'nan'"),
        ("train-tiny", {"lr": float("inf")}, "lr", "must be a finite number, got inf"),
        ("train-tiny", {"lr": 0}, "lr", "must be between 1e-05 and 1, got 0"),
        ("train-tiny", {"lr": "fast"}, "lr", "expected a number, got 'fast'"),
        ("train-tiny", {"steps": "5000"}, "steps", "must be between 1 and 2,000, got 5,000"),
        ("backward-pass", {"x": "1,nan,3"}, "x", "item 2: must be a finite number, got 'nan'"),
        ("backward-pass", {"x": [1.0, float("-inf")]}, "x", "item 2: must be a finite number, got -inf"),
        ("backward-pass", {"x": [1, 101]}, "x", "item 2: must be between -100 and 100, got 101"),
        ("backward-pass", {"x": "1,2,3,4,5,6,7,8,9"}, "x", "takes at most 8 values, got 9"),
        ("backward-pass", {"x": list(range(10_000))}, "x", "takes at most 8 values, got 10000"),
        ("backward-pass", {"x": ""}, "x", "needs at least 1 value, got 0"),
        ("backward-pass", {"x": {"a": 1}}, "x", "expected a list such as 1,2,3, got {'a': 1}"),
        ("gpu-speedup", {"sizes": "64,abc"}, "sizes", "item 2: expected a whole number, got 'abc'"),
        ("gpu-speedup", {"sizes": "64,16384"}, "sizes", "item 2: must be between 64 and 8,192, got 16,384"),
        ("train-tiny", {"device": "tpu"}, "device", "must be one of: cpu, cuda; got 'tpu'"),
        ("dynamic-graph", {"lengths": [[1]]}, "lengths", "item 1: expected a whole number, got [1]"),
    ],
)
def test_validate_params_refuses_with_a_one_line_reason(
    name: str, raw: dict[str, Any], param: str, reason: str
) -> None:
    with pytest.raises(DemoParamError) as caught:
        validate_params(get_demo(name), raw)
    assert caught.value.name == param
    assert caught.value.reason == reason
    assert str(caught.value) == f"parameter {param!r}: {reason}"
    assert "\n" not in str(caught.value)


def test_run_checks_its_own_params() -> None:
    with pytest.raises(DemoParamError):
        get_demo("train-tiny").run({"steps": -1}, lambda fraction, stage: None)


# --- every demo ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SMALL))
def test_progress_rises_from_zero_to_one(ran: dict[str, Any], name: str) -> None:
    _, calls = ran[name]
    fractions = [fraction for fraction, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)
    assert all(0 < len(stage) <= 60 for _, stage in calls)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_output_is_chat_sized_honest_and_serialisable(ran: dict[str, Any], name: str) -> None:
    output, _ = ran[name]
    assert 0 < len(output.text) <= 1500
    for function in SMALL[name][1]:
        assert inspect.getsource(function) in output.code
    json.dumps(output.metrics, allow_nan=False)
    assert output.device in {"cpu", "cuda", "mps"}
    assert all(image.startswith(PNG_SIGNATURE) for image in output.images)


@without_gpu
@pytest.mark.parametrize("name", sorted(SMALL))
def test_text_says_plainly_there_is_no_gpu(ran: dict[str, Any], name: str) -> None:
    assert NO_GPU in ran[name][0].text


# --- what each demo shows is true ------------------------------------------------------------------------


def test_backward_pass_gradient_is_the_analytic_one(ran: dict[str, Any]) -> None:
    metrics = ran["backward-pass"][0].metrics
    x = [-1.5, 0.0, 2.0, 10.0]
    assert metrics["x"] == x
    assert metrics["grad"] == pytest.approx([3 * v**2 + 2 for v in x], rel=1e-6)
    assert metrics["expected_grad"] == [3 * v**2 + 2 for v in x]
    assert metrics["max_abs_err"] < 1e-4 and metrics["grad_matches"] is True
    assert metrics["y"] == pytest.approx(sum(v**3 + 2 * v for v in x))
    chain = [line.strip() for line in metrics["grad_fn_chain"]]
    assert chain[0] == "SumBackward0" and chain.count("AccumulateGrad") == 2
    assert "PowBackward0" in chain and "MulBackward0" in chain


def test_grad_fn_chain_walks_next_functions() -> None:
    x = torch.ones(2, requires_grad=True)
    assert backward_pass.grad_fn_chain((x * 2).sum().grad_fn) == [
        "SumBackward0",
        "  MulBackward0",
        "    AccumulateGrad",
    ]


def test_numpy_interop_memory_really_is_shared(ran: dict[str, Any]) -> None:
    metrics = ran["numpy-interop"][0].metrics
    assert metrics["shares_memory"] is True
    assert (
        metrics["tensor_saw_numpy_write"] and metrics["numpy_saw_tensor_write"] and metrics["same_data_ptr"]
    )
    assert metrics["torch_tensor_copies"] is True
    assert "detach" in metrics["requires_grad_error"] and metrics["detach_fix_works"] is True
    if not HAS_CUDA:
        assert metrics["cuda_error"] is None and metrics["cpu_fix_works"] is None


def test_dynamic_graph_grows_with_length(ran: dict[str, Any]) -> None:
    sizes = ran["dynamic-graph"][0].metrics["graph_sizes"]
    assert len(sizes) == 3 and len(set(sizes)) == 3
    assert sizes == sorted(sizes)


def test_count_nodes_counts_shared_nodes_once() -> None:
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    assert dynamic_graph.count_nodes((y + y).sum().grad_fn) == 4  # Sum, Add, Mul, AccumulateGrad


def test_gpu_speedup_times_every_size(ran: dict[str, Any]) -> None:
    output, _ = ran["gpu-speedup"]
    metrics = output.metrics
    assert metrics["sizes"] == [64, 128]
    assert len(metrics["cpu_ms"]) == 2 and all(t > 0 for t in metrics["cpu_ms"])
    assert len(output.images) == 1
    if best_device() == "cpu":
        assert metrics["gpu_ms"] is None and metrics["speedup"] is None


def test_train_tiny_loss_really_falls(ran: dict[str, Any]) -> None:
    output, calls = ran["train-tiny"]
    metrics = output.metrics
    assert metrics["steps"] == 150
    assert metrics["final_loss"] < 0.2 * metrics["initial_loss"]
    assert (
        metrics["loss_curve"][0] == metrics["initial_loss"]
        and metrics["loss_curve"][-1] == metrics["final_loss"]
    )
    assert len(calls) > 10
    assert len(output.images) == 1


def test_train_tiny_is_reproducible_from_its_seed() -> None:
    first = train_tiny.train_mlp(5, 0.05, 7, lambda step, loss: None)
    assert train_tiny.train_mlp(5, 0.05, 7, lambda step, loss: None) == first
    assert train_tiny.train_mlp(5, 0.05, 8, lambda step, loss: None) != first


def test_hooks_record_each_layer_and_are_removed(ran: dict[str, Any]) -> None:
    metrics = ran["hooks-debugging"][0].metrics
    layers = metrics["layers"]
    assert [layer["name"] for layer in layers] == [f"body.{i}" for i in range(5)]
    assert [layer["type"] for layer in layers] == ["Linear", "ReLU", "Linear", "Tanh", "Linear"]
    assert [layer["shape"] for layer in layers] == [[3, 16], [3, 16], [3, 16], [3, 16], [3, 3]]
    assert layers[1]["mean"] >= 0 and all(layer["std"] >= 0 for layer in layers)
    assert metrics["hooks_removed"] is True
    assert metrics["printed"] == ["forward: input (3, 8)"] * 2


def test_tensor_to_device_copies_and_times(ran: dict[str, Any]) -> None:
    metrics = ran["tensor-to-device"][0].metrics
    assert metrics["device"] == best_device()
    assert metrics["bytes"] == 400_000 and metrics["round_trip_equal"] is True
    assert metrics["h2d_ms"] > 0 and metrics["d2h_ms"] > 0 and metrics["h2d_gbps"] > 0
    if not HAS_CUDA:
        assert metrics["pinned_h2d_gbps"] is None


# --- device ----------------------------------------------------------------------------------------------


def test_best_device_follows_torch() -> None:
    has_mps = torch.backends.mps.is_available()
    assert best_device() == ("cuda" if HAS_CUDA else "mps" if has_mps else "cpu")


@without_gpu
def test_describe_cpu_without_gpu() -> None:
    assert describe_device("cpu") == "CPU (this worker has no GPU)"


# --- CUDA only -------------------------------------------------------------------------------------------


@needs_cuda
def test_cuda_describe_names_the_gpu() -> None:
    assert describe_device("cuda") == f"{torch.cuda.get_device_name()} (CUDA GPU)"
    assert describe_device("cpu") == "CPU"


@needs_cuda
def test_cuda_tensor_to_device_times_pinned_memory(ran: dict[str, Any]) -> None:
    output, _ = ran["tensor-to-device"]
    assert output.device == "cuda" and output.metrics["pinned_h2d_gbps"] > 0
    assert "pinned" in output.text and NO_GPU not in output.text


@needs_cuda
def test_cuda_numpy_error_and_cpu_fix(ran: dict[str, Any]) -> None:
    output, _ = ran["numpy-interop"]
    assert "cpu()" in output.metrics["cuda_error"] and output.metrics["cpu_fix_works"] is True
    assert inspect.getsource(numpy_interop.cuda_fix) in output.code


@needs_cuda
def test_cuda_gpu_speedup_fills_the_gpu_column(ran: dict[str, Any]) -> None:
    metrics = ran["gpu-speedup"][0].metrics
    assert len(metrics["gpu_ms"]) == 2 and all(t > 0 for t in metrics["gpu_ms"])
    expected = [c / g for c, g in zip(metrics["cpu_ms"], metrics["gpu_ms"], strict=True)]
    assert metrics["speedup"] == pytest.approx(expected, rel=0.05)
