"""Charts drawn on the server as SVG: no JavaScript, no CDN, readable by screen readers
(each chart has a title and a description, each mark a tooltip with its number).

Every function takes figures already computed by :mod:`clicksift.reports` and only draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 720
FONT = 12


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str            # class of the marks: "raw", "human", "machine"


def _svg(title: str, description: str, height: int, body: list[str], legend: Sequence[Series],
         chart_id: str, width: int = WIDTH) -> Markup:
    keys = "".join(
        f'<g transform="translate({8 + n * 150},{height - 14})"><rect class="{s.css}" '
        f'width="12" height="12" rx="2"/><text x="18" y="10">{escape(s.name)}</text></g>'
        for n, s in enumerate(legend))
    # Every text in the SVG went through escape() above.
    return Markup(  # noqa: S704
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-size="{FONT}">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
        f'{"".join(body)}{keys}</svg>')


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"
    return f"{value:,.0f}"


def _axis(top: float, left: int, bottom: int, plot_top: int, percent: bool) -> list[str]:
    """Five intervals: every nice maximum (1, 2, 2.5, 5 x 10^n) divides into round ticks."""
    marks = []
    for step in range(6):
        value = top * step / 5
        y = bottom - (bottom - plot_top) * step / 5
        marks.append(f'<line class="grid" x1="{left}" x2="{WIDTH - 8}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{_fmt(value, percent)}</text>')
    return marks


def grouped_bars(chart_id: str, title: str, categories: Sequence[str],
                 series: Sequence[Series], *, percent: bool = False,
                 description: str = "") -> Markup:
    """Bars side by side per category (raw next to human)."""
    height, left, plot_top, bottom = 260, 56, 12, 200
    values = [v for s in series for v in s.values if v is not None]
    top = _nice_max(max(values, default=0.0))
    body = _axis(top, left, bottom, plot_top, percent)
    slot = (WIDTH - 8 - left) / max(1, len(categories))
    bar = min(36.0, slot * 0.8 / max(1, len(series)))
    for c, category in enumerate(categories):
        x0 = left + c * slot + (slot - bar * len(series)) / 2
        for n, s in enumerate(series):
            value = s.values[c]
            if value is None:
                continue
            h = (bottom - plot_top) * value / top
            body.append(f'<rect class="{s.css}" x="{x0 + n * bar:.1f}" y="{bottom - h:.1f}" '
                        f'width="{bar - 2:.1f}" height="{max(h, 0.5):.1f}" '
                        f'data-value="{value}"><title>{escape(category)}, {escape(s.name)}: '
                        f'{_fmt(value, percent)}</title></rect>')
        body.append(f'<text class="label" x="{left + c * slot + slot / 2:.1f}" y="{bottom + 16}" '
                    f'text-anchor="middle">{escape(category)}</text>')
    return _svg(title, description or _describe(categories, series, percent), height, body,
                series, chart_id)


def stacked_columns(chart_id: str, title: str, categories: Sequence[str],
                    series: Sequence[Series], *, axis_label: str = "",
                    description: str = "") -> Markup:
    """Columns stacked from SERIES (machines under people), e.g. the timeline."""
    height, left, plot_top, bottom = 310, 56, 12, 220
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(categories))]
    top = _nice_max(max(totals, default=0.0))
    body = _axis(top, left, bottom, plot_top, False)
    slot = (WIDTH - 8 - left) / max(1, len(categories))
    for c, category in enumerate(categories):
        y = float(bottom)
        for s in series:
            value = s.values[c] or 0
            if not value:
                continue
            h = (bottom - plot_top) * value / top
            y -= h
            body.append(f'<rect class="{s.css}" x="{left + c * slot + 1:.1f}" y="{y:.1f}" '
                        f'width="{slot - 2:.1f}" height="{max(h, 0.5):.1f}" '
                        f'data-value="{value}"><title>{escape(category)}: {value:,.0f} '
                        f'{escape(s.name)}</title></rect>')
        body.append(f'<text class="label" transform="translate('
                    f'{left + c * slot + slot / 2:.1f},{bottom + 10}) rotate(-40)" '
                    f'text-anchor="end">{escape(category)}</text>')
    if axis_label:
        body.append(f'<text class="tick" x="{WIDTH - 8}" y="{height - 30}" text-anchor="end">'
                    f'{escape(axis_label)}</text>')
    return _svg(title, description or _describe(categories, series, False), height, body,
                series, chart_id)


def share_bars(chart_id: str, title: str, items: Sequence[tuple[str, float, float]],
               css: str = "machine", width: int = 480) -> Markup:
    """Horizontal bars: (label, count, share of the whole) per item, largest first."""
    row, left = 24, 170
    height = 20 + row * len(items) + 8
    body = []
    for n, (label, count, share) in enumerate(items):
        y = 10 + n * row
        bar = (width - left - 60) * share
        body.append(f'<text class="label" x="{left - 8}" y="{y + 15}" text-anchor="end">'
                    f'{escape(label)}</text><rect class="{css}" x="{left}" y="{y + 3}" '
                    f'width="{max(bar, 1):.1f}" height="{row - 8}" rx="2" '
                    f'data-value="{count}"><title>{escape(label)}: {count:,.0f} '
                    f'({share:.1%})</title></rect><text class="tick" x="{left + bar + 6:.1f}" '
                    f'y="{y + 15}">{share:.1%}</text>')
    description = "; ".join(f"{label} {share:.1%}" for label, _, share in items)
    return _svg(title, description, height, body, (), chart_id, width)


def _describe(categories: Sequence[str], series: Sequence[Series], percent: bool) -> str:
    parts = []
    for c, category in enumerate(categories):
        values = ", ".join(f"{s.name} {_fmt(s.values[c] or 0, percent)}" for s in series
                           if s.values[c] is not None)
        parts.append(f"{category}: {values}")
    return "; ".join(parts)
