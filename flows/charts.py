"""report.html's charts as inline SVG: bars and histograms with marker lines, drawn as plain shapes and text.

No plotting library: a run's charts render in milliseconds (matplotlib took ~1.2 s of CPU per run, plus 0.4 s to
import), need nothing fetched, read crisp at any zoom, and the same data always gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# matplotlib's "tab10" colours, by the names C0..C9 the report uses for languages and kinds.
PALETTE = {
    "C0": "#1f77b4",
    "C1": "#ff7f0e",
    "C2": "#2ca02c",
    "C3": "#d62728",
    "C4": "#9467bd",
    "C5": "#8c564b",
    "C6": "#e377c2",
    "C7": "#7f7f7f",
    "C8": "#bcbd22",
    "C9": "#17becf",
}
FONT = 11  # px, tick and bar labels
CHAR = 6.2  # px, the width of a label character at FONT, for margins
ROW = 16  # px per bar row of a horizontal bar chart
TOP, BOTTOM, RIGHT = 22, 20, 12  # px: the title above a plot, the tick labels under it, the margin on its right


@dataclass(frozen=True)
class Series:
    """One set of bars (or a histogram's heights): its values and colour."""

    values: Sequence[float]
    color: str
    opacity: float = 1.0


@dataclass(frozen=True)
class Line:
    """A vertical marker (a threshold): its x, colour and dash pattern ("4 3" dashed, "1 3" dotted)."""

    x: float
    color: str
    dash: str = "4 3"


def figure(panels: list[str], alt: str, legend: Sequence[tuple[str, str]] = ()) -> str:
    """Panels side by side (wrapping on a narrow page) under one labelled chart, with an optional legend."""
    keys = "".join(f'<span><i style="background:{_color(color)}"></i>{escape(label)}</span>' for label, color in legend)
    head = f'<div class="legend">{keys}</div>' if keys else ""
    return f'<figure class="chart" role="img" aria-label="{escape(alt)}">{head}{"".join(panels)}</figure>'


def hbars(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    show_labels: bool = True,
    xmax: float | None = None,
    width: int = 300,
) -> str:
    """Horizontal bars, one row per label from the top: stacked series end to end, or side by side in the row."""
    left = 8 + (CHAR * max((len(label) for label in labels), default=0) if show_labels else 0)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))] if stacked else []
    top_value = xmax or max([*totals, *(v for s in series for v in s.values), 1])
    plot_w, plot_h = width - left - RIGHT, ROW * max(len(labels), 1)
    x = _Scale(0, top_value, left, left + plot_w)
    out = _axes(title, x, left, plot_w, plot_h)
    thick = (ROW - 4) / (1 if stacked else len(series))
    for i, label in enumerate(labels):
        y, start = TOP + i * ROW + 2, 0.0
        for j, s in enumerate(series):
            value = s.values[i]
            x0 = x(start) if stacked else x(0)
            y0 = y if stacked else y + j * thick
            out.append(_rect(x0, y0, x(start + value if stacked else value) - x0, thick, s.color, s.opacity))
            start += value if stacked else 0
        if show_labels:
            out.append(_text(left - 4, TOP + i * ROW + ROW / 2 + 4, label, "end"))
    return _svg(width, TOP + plot_h + BOTTOM, out)


def vbars(title: str, labels: Sequence[str], values: Sequence[float], color: str, width: int = 260) -> str:
    """Vertical bars with their labels slanted under them."""
    below = 12 + CHAR * 0.75 * max((len(label) for label in labels), default=0)
    left, plot_h = 48, 110
    plot_w = width - left - RIGHT
    y = _Scale(0, max([*values, 1]) * 1.05, TOP + plot_h, TOP)
    out = [_text(left + plot_w / 2, 14, title, "middle", bold=True)]
    out += [_tick_h(left, plot_w, y(v), _label(v)) for v in _ticks(0, max([*values, 1]), integer=True)]
    out.append(_frame(left, TOP, plot_w, plot_h))
    step = plot_w / max(len(values), 1)
    for i, (label, value) in enumerate(zip(labels, values)):
        cx = left + step * (i + 0.5)
        out.append(_rect(cx - step * 0.35, y(value), step * 0.7, y(0) - y(value), color))
        out.append(
            f'<text x="{cx:.1f}" y="{TOP + plot_h + 12:.1f}" font-size="{FONT}" text-anchor="end" '
            f'transform="rotate(-30 {cx:.1f} {TOP + plot_h + 12:.1f})">{escape(label)}</text>'
        )
    return _svg(width, TOP + plot_h + below, out)


def histogram(
    title: str, edges: Sequence[float], series: Sequence[Series], lines: Sequence[Line], log: bool, width: int = 260
) -> str:
    """Histograms over the same bins, each scaled to its own peak, filled and translucent, with marker lines; the x
    axis log-scaled (log(1 + x)) when log."""
    left, plot_h = 8, 90
    plot_w = width - left - RIGHT
    x = _Scale(edges[0], edges[-1], left, left + plot_w, log)
    y = _Scale(0, 1, TOP + plot_h, TOP)
    out = _axes(title, x, left, plot_w, plot_h)
    for s in series:
        peak = max([*s.values, 1])
        points = [f"{x(edges[0]):.1f},{y(0):.1f}"]
        for lo, hi, v in zip(edges, edges[1:], s.values):
            points += [f"{x(lo):.1f},{y(v / peak):.1f}", f"{x(hi):.1f},{y(v / peak):.1f}"]
        points.append(f"{x(edges[-1]):.1f},{y(0):.1f}")
        fill = _color(s.color)
        out.append(f'<polygon points="{" ".join(points)}" fill="{fill}" fill-opacity="0.35" stroke="{fill}"/>')
    for line in lines:
        out.append(
            f'<line x1="{x(line.x):.1f}" x2="{x(line.x):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="{_color(line.color)}" stroke-width="1.5" stroke-dasharray="{line.dash}"/>'
        )
    return _svg(width, TOP + plot_h + BOTTOM, out)


class _Scale:
    """Maps data values to pixels, linearly or by log(1 + x)."""

    def __init__(self, lo: float, hi: float, start: float, end: float, log: bool = False) -> None:
        self.log = log
        self.lo, self.hi = self._f(lo), self._f(hi)
        if self.hi == self.lo:
            self.hi = self.lo + 1
        self.start, self.end = start, end
        self.data = (lo, hi)

    def _f(self, v: float) -> float:
        return math.log1p(max(v, 0)) if self.log else v

    def __call__(self, v: float) -> float:
        return self.start + (self._f(v) - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        lo, hi = self.data
        if not self.log:
            return _ticks(lo, hi)
        return [0.0, *(10.0**k for k in range(0, int(math.log10(max(hi, 1))) + 1) if lo <= 10.0**k <= hi)][-4:]


def _ticks(lo: float, hi: float, n: int = 3, integer: bool = False) -> list[float]:
    """About n round values between lo and hi."""
    span = hi - lo
    if span <= 0:
        return [lo]
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    if integer:
        step = max(step, 1)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _label(v: float) -> str:
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    return f"{v:g}"


def _axes(title: str, x: _Scale, left: float, plot_w: float, plot_h: float) -> list[str]:
    """Title, frame and the x axis's ticks under a plot."""
    out = [_text(left + plot_w / 2, 14, title, "middle", bold=True), _frame(left, TOP, plot_w, plot_h)]
    for v in x.ticks():
        px = x(v)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 3}" stroke="#555"/>')
        anchor = "end" if px > left + plot_w - 12 else "start" if px < left + 12 else "middle"  # kept inside
        out.append(_text(px, TOP + plot_h + 14, _label(v), anchor))
    return out


def _tick_h(left: float, plot_w: float, py: float, label: str) -> str:
    return f'<line x1="{left - 3}" x2="{left + plot_w:.1f}" y1="{py:.1f}" y2="{py:.1f}" stroke="#ddd"/>' + _text(
        left - 5, py + 4, label, "end"
    )


def _frame(left: float, top: float, w: float, h: float) -> str:
    return f'<rect x="{left:.1f}" y="{top}" width="{w:.1f}" height="{h:.1f}" fill="none" stroke="#999"/>'


def _rect(x: float, y: float, w: float, h: float, color: str, opacity: float = 1.0) -> str:
    alpha = f' fill-opacity="{opacity:g}"' if opacity < 1 else ""
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{_color(color)}"{alpha}/>'


def _text(x: float, y: float, text: str, anchor: str, bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{FONT}" text-anchor="{anchor}"{weight}>{escape(text)}</text>'


def _color(name: str) -> str:
    return PALETTE.get(name, name)


def _svg(width: float, height: float, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="system-ui, sans-serif">{"".join(parts)}</svg>'
    )
