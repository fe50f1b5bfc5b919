"""dynamic-graph: a forward() with a Python loop and a data-dependent branch builds a new graph each call."""

from __future__ import annotations

from typing import Any

from workers.demos._common import device_note, fit_text, json_safe, source_of
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "lengths": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 20},
            "minItems": 1,
            "maxItems": 6,
            "default": [2, 5, 9],
            "description": "Sequence lengths to run (1 to 6 of them, each 1 to 20), e.g. lengths=2,5,9.",
        }
    },
    "additionalProperties": False,
}


def run_loopy_net(lengths: list[int], seed: int = 0) -> list[dict[str, int]]:
    """Run one net on sequences of each length; count the autograd nodes each forward pass built."""
    import torch
    from torch import nn

    class LoopyNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell, self.flip = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, sequence: torch.Tensor) -> torch.Tensor:
            h, self.flips = torch.zeros(4), 0
            for step in sequence:  # plain Python loop: one iteration per input element
                h = torch.tanh(self.cell(step) + h)
                if h.sum() > 0:  # plain Python if, decided by the data
                    h, self.flips = -self.flip(h), self.flips + 1
            return h.sum()

    torch.manual_seed(seed)
    net, runs = LoopyNet(), []
    for length in lengths:
        out = net(torch.randn(length, 4))
        runs.append({"length": length, "nodes": count_nodes(out.grad_fn), "branches": net.flips})
        out.backward()  # works on whatever graph this call built
    return runs


def count_nodes(root: Any) -> int:
    """Distinct autograd nodes reachable from `root` through `next_functions`."""
    seen: dict[int, Any] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node  # keep the node alive so its id cannot be reused while we walk
        stack.extend(child for child, _ in node.next_functions)
    return len(seen)


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Count graph nodes per input length and explain why they differ."""
    lengths = validate_params(DEMO, params)["lengths"]
    progress(0.0, "running the loop")
    runs = run_loopy_net(lengths)
    progress(1.0, "done")
    metrics = json_safe(
        {
            "lengths": lengths,
            "graph_sizes": [r["nodes"] for r in runs],
            "branches_taken": [r["branches"] for r in runs],
            "device": "cpu",
        }
    )
    code = source_of(run_loopy_net, count_nodes)
    return DemoOutput(text=_text(metrics), code=code, metrics=metrics, device="cpu")


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    rows = [
        f"• length {n}: {size} nodes, branch taken {b}×"
        for n, size, b in zip(m["lengths"], m["graph_sizes"], m["branches_taken"], strict=True)
    ]
    return fit_text(
        "\n".join(
            [
                "**Dynamic graph**: `forward()` loops over the input and branches on the data, "
                "so each call records a different graph.",
                *rows,
                "PyTorch builds the graph while your Python runs (define-by-run) and frees it after "
                "`backward()`: loops, `if`s and varying lengths need no special graph ops.",
                device_note("cpu"),
            ]
        )
    )


DEMO = Demo(
    name="dynamic-graph",
    title="Dynamic computation graphs",
    summary="Runs a module with a Python loop and a data-dependent if on inputs of different lengths.",
    params=PARAMS,
    run=run,
    time_limit_s=10.0,
    queue="cpu",
    tags=("autograd", "nn.Module"),
)
