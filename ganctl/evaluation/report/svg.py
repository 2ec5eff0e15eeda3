"""Line charts as SVG text, written directly: no plotting dependency, a few kB per chart, crisp
at any zoom and in print, and text that a browser (and a test) can read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 760, 280  # the viewBox; the page scales it to the column (800 px reads well)
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 44
CHAR_W = 7  # about the width of a character of the 12 px labels, to place them
COLOURS = ("#1f6fb2", "#d1495b", "#2a9d4b", "#8a5cc2", "#e0901f", "#4a4a4a")


@dataclass(frozen=True)
class Series:
    """One line: its legend label and its (x, y) points (None and NaN values are gaps)."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    dots: bool = False  # mark each point (sparse series such as evaluations)


@dataclass(frozen=True)
class Mark:
    """A vertical dashed line at `x` with a label (the best checkpoint)."""

    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    marks: list[Mark] = field(default_factory=list)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of 10)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        low, high = low - (abs(low) or 1) * 0.5, high + (abs(high) or 1) * 0.5
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _points(series: Series) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in zip(series.xs, series.ys, strict=True)
            if y is not None and math.isfinite(float(y))]


def render(chart: Chart) -> str:
    """The chart as an inline <svg> element with a title, both axes (ticks, labels with units),
    a legend, and its lines; an empty chart says so."""
    points = [_points(s) for s in chart.series]
    xs = [x for p in points for x, _ in p] + [m.x for m in chart.marks]
    ys = [y for p in points for _, y in p]
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(chart.title)}">',
             f'<text x="{LEFT}" y="20" class="title">{escape(chart.title)}</text>']
    if not ys:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>')
        return "".join(parts) + "</svg>"
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / ((x1 - x0) or 1) * plot_w

    def py(y: float) -> float:
        return TOP + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h

    for t in y_ticks:
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py(t):.1f}" '
                     f'y2="{py(t):.1f}"/><text x="{LEFT - 6}" y="{py(t) + 4:.1f}" '
                     f'text-anchor="end">{_fmt(t)}</text>')
    for t in x_ticks:
        parts.append(f'<line class="tick" x1="{px(t):.1f}" x2="{px(t):.1f}" '
                     f'y1="{TOP + plot_h}" y2="{TOP + plot_h + 5}"/>'
                     f'<text x="{px(t):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
                     f'{_fmt(t)}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" '
                 f'y2="{TOP + plot_h}"/><line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" '
                 f'y2="{TOP + plot_h}"/>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
                 f'class="label">{escape(chart.x_label)}</text>')
    parts.append(f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" '
                 f'text-anchor="middle" class="label">{escape(chart.y_label)}</text>')
    for mark in chart.marks:
        # The label goes right of the line, or left of it where it would run off the chart.
        x = px(mark.x)
        right = x + 4 + CHAR_W * len(mark.label) <= WIDTH - RIGHT
        parts.append(f'<line class="mark" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
                     f'y2="{TOP + plot_h}"/><text class="mark" x="{x + 4 if right else x - 4:.1f}" '
                     f'y="{TOP + 12}" text-anchor="{"start" if right else "end"}">'
                     f"{escape(mark.label)}</text>")
    legend_x = WIDTH - RIGHT
    for i, (series, pts) in enumerate(zip(chart.series, points, strict=True)):
        colour = COLOURS[i % len(COLOURS)]
        if pts:
            path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}"
                            for j, (x, y) in enumerate(pts))
            parts.append(f'<path class="line" d="{path}" stroke="{colour}"/>')
            if series.dots or len(pts) == 1:
                parts.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>'
                             for x, y in pts)
    # The legend, right-aligned on the title's line, the last series rightmost.
    for i, series in reversed(list(enumerate(chart.series))):
        colour = COLOURS[i % len(COLOURS)]
        width = CHAR_W * len(series.label) + 26
        legend_x -= width
        parts.append(f'<g class="legend"><rect x="{legend_x:.0f}" y="11" width="14" height="4" '
                     f'fill="{colour}"/><text x="{legend_x + 18:.0f}" y="18">'
                     f'{escape(series.label)}</text></g>')
    return "".join(parts) + "</svg>"
