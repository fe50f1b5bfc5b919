"""backward-pass: autograd on y = sum(x**3 + 2*x), its grad_fn chain, and a check against the calculus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers.demos._common import device_note, fit_text, json_safe, source_of
from workers.demos._params import validate_params
from workers.demos.base import Demo, DemoOutput, ProgressFn

if TYPE_CHECKING:
    import torch

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "x": {
            "type": "array",
            "items": {"type": "number", "minimum": -100, "maximum": 100},
            "minItems": 1,
            "maxItems": 8,
            "default": [1.0, 2.0, 3.0],
            "description": "The input values x (1 to 8 numbers between -100 and 100), e.g. x=1,2,3.",
        }
    },
    "additionalProperties": False,
}


def gradient_of_cubic(values: list[float]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """y = sum(x**3 + 2*x); y.backward() fills x.grad with dy/dx = 3*x**2 + 2."""
    import torch

    x = torch.tensor(values, requires_grad=True)  # a leaf tensor: autograd records what is done to it
    y = (x**3 + 2 * x).sum()  # each operation adds a node (y.grad_fn) to the graph
    y.backward()  # walks the graph backwards, applying the chain rule
    return y, x.grad


def grad_fn_chain(node: Any, depth: int = 0) -> list[str]:
    """The autograd graph below `node`, one indented line per node, found through `next_functions`."""
    if node is None:  # inputs that need no gradient (like the constant 2) have no node
        return []
    lines = ["  " * depth + type(node).__name__]
    for child, _ in node.next_functions:
        lines += grad_fn_chain(child, depth + 1)
    return lines


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Run backward() on the cubic and compare x.grad with the analytic gradient."""
    values = validate_params(DEMO, params)["x"]
    progress(0.0, "building the graph")
    y, grad = gradient_of_cubic(values)
    assert grad is not None  # backward() always fills .grad of a leaf that requires grad
    progress(0.6, "checking the gradient")
    chain = grad_fn_chain(y.grad_fn)
    expected = [3 * v**2 + 2 for v in values]
    error = max(abs(g - e) for g, e in zip(grad.tolist(), expected, strict=True))
    matches = error <= 1e-5 * max(1.0, *map(abs, expected))  # float32 keeps about 7 significant digits
    metrics = json_safe(
        {
            "x": values,
            "y": y.item(),
            "grad": grad.tolist(),
            "expected_grad": expected,
            "max_abs_err": error,
            "grad_matches": matches,
            "grad_fn_chain": chain,
            "device": "cpu",
        }
    )
    progress(1.0, "done")
    code = source_of(gradient_of_cubic, grad_fn_chain)
    return DemoOutput(text=_text(metrics), code=code, metrics=metrics, device="cpu")


def _numbers(values: list[float]) -> str:
    """A short list such as [1, 2.5, -3]."""
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    chain = "\n".join(m["grad_fn_chain"][:24])
    verdict = "matches" if m["grad_matches"] else "DIFFERS FROM"
    return fit_text(
        "\n".join(
            [
                "**Backward pass**: y = sum(x³ + 2x), so dy/dx = 3x² + 2.",
                f"x = {_numbers(m['x'])}, y = {m['y']:.6g}",
                f"`x.grad` after `y.backward()` = {_numbers(m['grad'])}",
                f"3x² + 2 by hand = {_numbers(m['expected_grad'])}",
                f"Autograd {verdict} the calculus (largest difference {m['max_abs_err']:.2g}).",
                "The graph autograd recorded, from `y.grad_fn` down through `next_functions`:",
                f"```\n{chain}\n```",
                "`AccumulateGrad` is where the gradient lands in the leaf `x.grad`. " + device_note("cpu"),
            ]
        )
    )


DEMO = Demo(
    name="backward-pass",
    title="What backward() computes",
    summary="Calls backward() on y = sum(x**3 + 2x), shows the grad_fn chain, checks x.grad = 3x²+2.",
    params=PARAMS,
    run=run,
    time_limit_s=10.0,
    queue="cpu",
    tags=("autograd", "basics"),
)
