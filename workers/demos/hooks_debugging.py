"""hooks-debugging: forward hooks record every layer's output, next to a print inside forward()."""

from __future__ import annotations

from typing import Any

from workers.demos._common import device_note, fit_text, json_safe, source_of
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "batch": {
            "type": "integer",
            "minimum": 1,
            "maximum": 64,
            "default": 4,
            "description": "Rows in the random input batch (1 to 64).",
        }
    },
    "additionalProperties": False,
}


def trace_layers(batch: int, seed: int = 0) -> dict[str, Any]:
    """Hook every layer of a small net, run one batch, remove the hooks and check they are gone."""
    import io

    import torch
    from torch import nn

    class SmallNet(nn.Module):
        def __init__(self, log: io.StringIO) -> None:
            super().__init__()
            self.log = log
            self.body = nn.Sequential(
                nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            print(f"forward: input {tuple(x.shape)}", file=self.log)  # the quick look: one line per call
            result: torch.Tensor = self.body(x)
            return result

    torch.manual_seed(seed)
    net = SmallNet(io.StringIO())
    layers: list[dict[str, Any]] = []
    names = {module: f"body.{name}" for name, module in net.body.named_children()}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        layers.append(
            {
                "name": names[module],
                "type": type(module).__name__,
                "shape": list(output.shape),
                "mean": output.mean().item(),
                "std": output.std(correction=0).item(),
            }
        )

    handles = [module.register_forward_hook(record) for module in names]
    with torch.no_grad():
        net(torch.randn(batch, 8))
        for handle in handles:
            handle.remove()  # hooks live until removed: forget this and they fire on every call
        recorded = len(layers)
        net(torch.randn(batch, 8))
    return {"layers": layers, "hooks_removed": len(layers) == recorded, "printed": net.log.getvalue()}


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Trace one batch through the net and show what each layer produced."""
    batch = validate_params(DEMO, params)["batch"]
    progress(0.0, "registering hooks")
    trace = trace_layers(batch)
    progress(1.0, "done")
    metrics = json_safe(
        {
            "batch": batch,
            "layers": [
                {**layer, "mean": round(layer["mean"], 5), "std": round(layer["std"], 5)}
                for layer in trace["layers"]
            ],
            "hooks_removed": trace["hooks_removed"],
            "printed": trace["printed"].splitlines(),
            "device": "cpu",
        }
    )
    return DemoOutput(text=_text(metrics), code=source_of(trace_layers), metrics=metrics, device="cpu")


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    rows = [
        f"{layer['name']:<7} {layer['type']:<7} {str(layer['shape']):<9} "
        f"mean {layer['mean']:+.3f} std {layer['std']:.3f}"
        for layer in m["layers"]
    ]
    table = "\n".join(rows)
    printed = "\n".join(m["printed"])
    return fit_text(
        "\n".join(
            [
                f"**Forward hooks**: `register_forward_hook` on each layer of a small net, "
                f"batch of {m['batch']}.",
                f"```\n{table}\n```",
                f"The `print` inside `forward()` only sees the input:\n```\n{printed}\n```",
                "It printed twice (two calls); the hooks recorded only the first: after `handle.remove()` "
                f"they are gone ({'confirmed' if m['hooks_removed'] else 'NOT removed'}).",
                "Watch for std near 0 (dead ReLUs, saturated tanh) or means that grow layer by layer.",
                device_note("cpu"),
            ]
        )
    )


DEMO = Demo(
    name="hooks-debugging",
    title="Debugging with forward hooks",
    summary="Records each layer's output shape, mean and std with forward hooks, then removes the hooks.",
    params=PARAMS,
    run=run,
    time_limit_s=10.0,
    queue="cpu",
    tags=("debugging", "nn.Module", "hooks"),
)
