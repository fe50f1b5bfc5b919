"""train-tiny: the whole training loop on a small MLP and synthetic data, with a loss curve."""

from __future__ import annotations

from collections.abc import Callable
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
from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.device import best_device
from workers.errors import DemoParamError

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "steps": {
            "type": "integer",
            "minimum": 1,
            "maximum": 2000,
            "default": 200,
            "description": "Optimiser steps (1 to 2000).",
        },
        "lr": {
            "type": "number",
            "minimum": 1e-5,
            "maximum": 1.0,
            "default": 0.05,
            "description": "Adam learning rate (0.00001 to 1).",
        },
        "seed": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**32 - 1,
            "default": 0,
            "description": "Random seed for the data and the initial weights.",
        },
        "device": {
            "type": "string",
            "enum": ["cpu", "cuda"],
            "default": "cpu",
            "description": "Where to train: cpu (faster for a network this small) or cuda (needs a GPU worker).",
        },
    },
    "additionalProperties": False,
}
_CURVE_POINTS = 100


def train_mlp(
    steps: int, lr: float, seed: int, on_step: Callable[[int, float], None], device: str = "cpu"
) -> list[float]:
    """Fit y = sin(2·x1) + x2²/2 with a 2-32-32-1 MLP and Adam on `device`; return the loss before each step."""
    import torch
    from torch import nn

    torch.manual_seed(seed)  # same seed, same data, same initial weights, same curve
    x = torch.randn(256, 2)
    y = (torch.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2).unsqueeze(1)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    x, y, model = x.to(device), y.to(device), model.to(device)  # data and weights made on the CPU: same curve
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()  # gradients add up across backward() calls unless cleared
        loss.backward()
        optimizer.step()
        losses.append(loss.item())  # .item() copies to the host: on a GPU it waits for the step to finish
        on_step(step, losses[-1])
    with torch.no_grad():
        losses.append(nn.functional.mse_loss(model(x), y).item())  # the loss after the last step
    return losses


def run(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Train, report progress every few steps, and plot the loss curve."""
    return run_on(best_device(), params, progress)


def run_on(available: str, params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Train on the device asked for, which must be `available` on this worker when it is cuda."""
    import time

    values = validate_params(DEMO, params)
    device, steps = values["device"], values["steps"]
    if device == "cuda" and available != "cuda":
        raise DemoParamError("device", "this worker has no CUDA GPU; use device=cpu")
    every = max(1, steps // 20)
    progress(0.0, "training")

    def on_step(step: int, loss: float) -> None:
        if (step + 1) % every == 0 and step + 1 < steps:
            progress((step + 1) / steps, f"step {step + 1}/{steps}, loss {loss:.4g}")

    start = time.perf_counter()
    losses = train_mlp(steps, values["lr"], values["seed"], on_step, device)
    seconds = time.perf_counter() - start
    progress(1.0, "done")
    metrics = _metrics(values, losses) | {"seconds": round(seconds, 4), "gpu_worker": available == "cuda"}
    return DemoOutput(
        text=_text(metrics),
        code=source_of(train_mlp),
        metrics=metrics,
        device=device,
        images=(_plot(losses),),
    )


def _metrics(values: dict[str, Any], losses: list[float]) -> dict[str, Any]:
    """The numbers behind the text: first and last loss and a thinned curve."""
    stride = max(1, len(losses) // _CURVE_POINTS)
    curve = losses[::stride] + ([losses[-1]] if (len(losses) - 1) % stride else [])
    return json_metrics(
        {
            "steps": values["steps"],
            "lr": values["lr"],
            "seed": values["seed"],
            "initial_loss": losses[0],
            "final_loss": losses[-1],
            "loss_curve": curve,
            "loss_curve_stride": stride,
            "device": values["device"],
        }
    )


def _verdict(first: float | None, last: float | None) -> str:
    """One sentence on how the loss moved."""
    if first is None or last is None:
        return "The loss blew up to infinity/NaN: the learning rate is too high. Try a smaller `lr`."
    if last < 0.5 * first:
        return f"The loss fell to {ratio_text(last / first)} of where it started: the model learned."
    return "The loss barely moved: try more `steps` or a larger `lr`."


def _text(m: dict[str, Any]) -> str:
    """Chat text for the metrics `m`."""
    first, last = m["initial_loss"], m["final_loss"]
    shown = f"{first:.4g} → {last:.4g}" if first is not None and last is not None else "not finite"
    return fit_text(
        "\n".join(
            [
                f"**Train a tiny MLP**: 2-32-32-1 network, 256 synthetic points, Adam lr={m['lr']:g}, "
                f"{m['steps']} steps, seed {m['seed']}.",
                f"Mean squared error: {shown}.",
                _verdict(first, last),
                "Each step: forward → loss → `zero_grad()` → `backward()` → `step()`.",
                f"{m['steps']} steps took {m['seconds']:.3g} s on the {m['device'].upper()}.",
                _where(m),
            ]
        )
    )


def _where(m: dict[str, Any]) -> str:
    """Why it ran where it did."""
    if m["device"] == "cuda":
        return (
            "On the GPU each step is ~20 tiny kernel launches plus a `.item()` wait, so a network this small "
            "runs no faster than on the CPU; GPUs pay off with big batches and wide layers."
        )
    if not m["gpu_worker"]:
        return device_note("cpu")
    return (
        "Ran on the CPU on purpose, though this worker has a GPU: a 2-32-32-1 network on 256 points is too small "
        "to keep a GPU busy, and kernel launches would cost more than the maths. Try `device=cuda` to compare."
    )


def _plot(losses: list[float]) -> bytes:
    """PNG of the loss against the step, log scale."""
    figure = new_figure()
    axes = figure.add_subplot()
    axes.plot(range(len(losses)), losses)
    axes.set(yscale="log", xlabel="step", ylabel="MSE loss", title="Training loss")
    return figure_png(figure)


DEMO = Demo(
    name="train-tiny",
    title="Train a tiny network",
    summary="Trains a small MLP on synthetic data with Adam and plots the loss curve.",
    params=PARAMS,
    run=run,
    time_limit_s=30.0,
    queue="cpu",
    tags=("training", "optim", "nn.Module"),
    route=lambda params: "gpu" if params.get("device") == "cuda" else "cpu",
)
