"""The job page's metrics: short values as text, long number series as one SVG line, nothing unescaped."""

from __future__ import annotations

from bot.web.dashboard.metrics_view import CHART_FROM, metric_rows


def test_long_series_become_charts_and_the_rest_stays_text() -> None:
    loss = [2.0 / (i + 1) ** 2 for i in range(101)]
    rows = {row.name: row for row in metric_rows({"steps": 100, "final_loss": 0.000123456, "loss_curve": loss,
                                                  "sizes": [256, 512], "device": "cpu", "peak": None})}
    assert rows["steps"].text == "100" and rows["steps"].chart is None
    assert rows["final_loss"].text == "0.0001235"
    assert rows["sizes"].text == "256, 512" and rows["device"].text == "cpu" and rows["peak"].text == "—"
    chart = rows["loss_curve"].chart
    assert chart is not None and chart.count("<polyline") == 1
    points = chart.split('points="', 1)[1].split('"', 1)[0].split()
    assert len(points) == 101
    ys = [float(point.split(",")[1]) for point in points]
    assert ys == sorted(ys)  # a falling loss draws downwards (SVG y grows down)
    assert rows["loss_curve"].text == "101 values: 2 → 0.0001961 (min 0.0001961, max 2), log scale"


def test_short_or_mixed_series_are_not_charted() -> None:
    rows = metric_rows({"a": list(range(CHART_FROM - 1)), "b": [1.0] * CHART_FROM + [None], "c": [True] * 20})
    assert all(row.chart is None for row in rows)


def test_the_name_in_the_chart_is_escaped() -> None:
    (row,) = metric_rows({'<script>"x"': list(range(20))})
    assert row.chart is not None and "<script>" not in row.chart and "&lt;script&gt;" in row.chart
