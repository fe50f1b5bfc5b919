"""A job's metrics as a person reads them: numbers as text, long number series as a small SVG line chart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

CHART_FROM = 9  # a series longer than this is drawn, not listed
_WIDTH, _HEIGHT, _PAD = 240, 64, 4


@dataclass(frozen=True)
class MetricRow:
    """One metric: its name, and either its value as text or a chart with a one-line summary."""

    name: str
    text: str
    chart: Markup | None = None


def metric_rows(metrics: dict[str, Any]) -> list[MetricRow]:
    """The rows of the job page's metrics list, in the demo's order."""
    rows = []
    for name, value in metrics.items():
        series = _series(value)
        if series is not None:
            rows.append(MetricRow(name, _summary(series), _chart(name, series)))
        else:
            rows.append(MetricRow(name, _text(value)))
    return rows


def _series(value: Any) -> list[float] | None:
    """`value` as a list of finite numbers when it is a long one, else None."""
    if not isinstance(value, list) or len(value) < CHART_FROM:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return None
    return [float(v) for v in value]


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if value is None:
        return "—"
    return str(value)


def _summary(series: list[float]) -> str:
    return (f"{len(series)} values: {series[0]:.4g} → {series[-1]:.4g} "
            f"(min {min(series):.4g}, max {max(series):.4g}){', log scale' if _logarithmic(series) else ''}")


def _logarithmic(series: list[float]) -> bool:
    """Whether the series spans two orders of magnitude or more, all above zero (a falling loss does)."""
    low, high = min(series), max(series)
    return low > 0 and high / low >= 100


def _chart(name: str, series: list[float]) -> Markup:
    """An inline SVG polyline of `series`; only numbers and the escaped name go into it."""
    scale = math.log10 if _logarithmic(series) else (lambda v: v)
    values = [scale(v) for v in series]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (_WIDTH - 2 * _PAD) / max(len(values) - 1, 1)
    points = " ".join(
        f"{_PAD + i * step:.1f},{_HEIGHT - _PAD - (v - low) / span * (_HEIGHT - 2 * _PAD):.1f}"
        for i, v in enumerate(values)
    )
    label = escape(f"{name}: {_summary(series)}")
    return Markup(
        f'<svg class="metric-chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>'
    )
