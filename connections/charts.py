"""Server-rendered SVG bar charts: the geometry only; ``templates/connections/console/_chart.html``
draws it. No JavaScript and no inline style (the CSS classes colour the bars), and every chart
has its numbers in a table beside it for screen readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Bar", "bar_chart", "stacked_bar_chart"]

WIDTH = 640
LABEL_WIDTH = 220  # horizontal charts: the labels' column
BAR_GAP = 0.2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: float
    css: str = "bar"


def _nice_max(value: float) -> float:
    """A round axis end at or above ``value`` (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def bar_chart(points: list[tuple[str, float]], *, horizontal: bool = False) -> dict[str, Any]:
    """One bar per ``(label, value)``; horizontal bars (labels at the left) or vertical ones."""
    top = _nice_max(max((value for _, value in points), default=0))
    bars: list[Bar] = []
    if horizontal:
        row = 28
        span = WIDTH - LABEL_WIDTH - 60
        for index, (label, value) in enumerate(points):
            bars.append(
                Bar(LABEL_WIDTH, index * row + 4, span * value / top, row - 8, label, value)
            )
        return {
            "horizontal": True,
            "width": WIDTH,
            "height": max(len(points), 1) * row,
            "bars": bars,
            "top": top,
            "label_x": LABEL_WIDTH - 8,
        }
    height = 200
    slot = WIDTH / max(len(points), 1)
    for index, (label, value) in enumerate(points):
        bar_height = height * value / top
        bars.append(
            Bar(
                index * slot + slot * BAR_GAP / 2,
                height - bar_height,
                slot * (1 - BAR_GAP),
                bar_height,
                label,
                value,
            )
        )
    return _columns(bars, top, height, [label for label, _ in points])


def stacked_bar_chart(
    labels: list[str], series: list[tuple[str, str, list[float]]]
) -> dict[str, Any]:
    """One column per label, stacking each ``(name, css class, values)`` series bottom up."""
    height = 200
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    slot = WIDTH / max(len(labels), 1)
    bars: list[Bar] = []
    for index, label in enumerate(labels):
        base = float(height)
        for name, css, values in series:
            value = values[index]
            if not value:
                continue
            bar_height = height * value / top
            base -= bar_height
            bars.append(
                Bar(
                    index * slot + slot * BAR_GAP / 2,
                    base,
                    slot * (1 - BAR_GAP),
                    bar_height,
                    f"{label}: {name}",
                    value,
                    css=f"bar bar-{css}",
                )
            )
    chart = _columns(bars, top, height, labels)
    chart["legend"] = [(name, f"bar bar-{css}") for name, css, _ in series]
    return chart


def _columns(bars: list[Bar], top: float, height: int, labels: list[str]) -> dict[str, Any]:
    """A vertical chart; its axis names the first and last columns (not their segments)."""
    return {
        "horizontal": False,
        "width": WIDTH,
        "height": height,
        "bars": bars,
        "top": top,
        "first_label": labels[0] if labels else "",
        "last_label": labels[-1] if len(labels) > 1 else "",
    }
