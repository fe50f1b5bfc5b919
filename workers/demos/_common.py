"""Helpers shared by the demos: device wording, shown source, JSON-safe metrics, PNG figures."""

from __future__ import annotations

import inspect
import io
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from workers.device import best_device, describe_device

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TEXT_LIMIT = 1500


def device_note(device: str) -> str:
    """One plain sentence saying where a demo ran and why."""
    if device != "cpu":
        return f"Ran on the {describe_device(device)}."
    if best_device() == "cpu":
        return "No GPU on this worker, so this ran on the CPU."
    return "Ran on the CPU on purpose: tensors this small gain nothing from a GPU."


def ratio_text(ratio: float) -> str:
    """A ratio as a person reads it, small ones included: "48%", "3.1%", "0.27%", "1/52,000"."""
    if ratio >= 0.001 or ratio <= 0:
        percent = ratio * 100
        return f"{percent:.0f}%" if percent >= 10 or percent == 0 else f"{percent:.2g}%"
    return f"1/{float(f'{1 / ratio:.2g}'):,.0f}"


def source_of(*functions: Callable[..., Any]) -> str:
    """The source of the functions that ran, as shown to the learner."""
    return "\n\n\n".join(inspect.getsource(fn).rstrip() for fn in functions) + "\n"


def fit_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` cut to `limit` characters; a last guard, since each demo writes to fit."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_metrics(values: Mapping[str, Any]) -> dict[str, Any]:
    """A demo's metrics, each value made JSON-safe."""
    return {str(key): json_safe(item) for key, item in values.items()}


def json_safe(value: Any) -> Any:
    """`value` with tuples as lists, NumPy/torch scalars as Python numbers and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def new_figure(width: float = 5.0, height: float = 3.2) -> Figure:
    """A small Agg-backed figure, made without pyplot so that no global figure state is shared."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="tight")
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure) -> bytes:
    """`figure` rendered as PNG bytes at 100 dpi."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
