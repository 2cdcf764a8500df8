"""Server-rendered SVG charts for the dashboard and the annual report: no
JavaScript, no external fonts or files, so they paste into a document as
they are. Pure functions: numbers in, SVG text out (all text escaped)."""

from __future__ import annotations

import math
from html import escape

FONT = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','SimHei',sans-serif"
PALETTE = ("#2f6db5", "#e07b39", "#3a9d5d", "#c8453c", "#8a63b8", "#8c6d46", "#d46fae", "#7a7a7a", "#b5a82f")


def _nice_max(value: int) -> int | float:
    """The top of the value axis: five equal, round steps that cover ``value``."""
    if value <= 5:
        return 5
    raw = value / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 2.5, 3, 4, 5, 6, 8, 10) if magnitude >= 10 else (1, 2, 3, 4, 5, 6, 8, 10)
    step = next(m * magnitude for m in steps if m * magnitude * 5 >= value)
    return step * 5


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" role="img" aria-label="{escape(title)}">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f'<text x="{width / 2}" y="28" text-anchor="middle" font-size="18" font-weight="bold" fill="#222">'
        f"{escape(title)}</text>" + "".join(body) + "</svg>"
    )


def bar_chart(title: str, labels: list[str], values: list[int], *, unit: str = "件",
              width: int = 720, height: int = 360) -> str:
    """Vertical bars with the value on top of each."""
    return stacked_bar_chart(title, labels, [(unit, values)], unit=unit, width=width, height=height, legend=False)


def stacked_bar_chart(title: str, labels: list[str], series: list[tuple[str, list[int]]], *, unit: str = "件",
                      width: int = 720, height: int = 380, legend: bool = True) -> str:
    left, right, top = 56, 16, 48
    bottom = 64 if legend else 40
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0))
    body: list[str] = []
    for k in range(6):  # grid and axis labels
        v = top_value * k / 5
        y = top + plot_h - plot_h * k / 5
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                    f"{v:g}</text>")
    body.append(f'<text x="14" y="{top - 10}" font-size="11" fill="#555">{escape(unit)}</text>')
    n = max(len(labels), 1)
    slot = plot_w / n
    bar_w = min(slot * 0.62, 56)
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar_w) / 2
        base = top + plot_h
        for s_idx, (name, values) in enumerate(series):
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top_value
            base -= h
            body.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[s_idx % len(PALETTE)]}"><title>{escape(label)} {escape(name)}：{v}</title></rect>')
        body.append(f'<text x="{x + bar_w / 2:.1f}" y="{base - 5:.1f}" text-anchor="middle" font-size="12" '
                    f'fill="#222">{totals[i]}</text>')
        body.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16:.1f}" text-anchor="middle" '
                    f'font-size="12" fill="#333">{escape(label)}</text>')
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#888"/>')
    if legend and len(series) > 1:
        x, y = left, height - 18
        for s_idx, (name, values) in enumerate(series):
            if not any(values):
                continue
            body.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{PALETTE[s_idx % len(PALETTE)]}"/>')
            body.append(f'<text x="{x + 16}" y="{y}" font-size="12" fill="#333">{escape(name)}</text>')
            x += 24 + 13 * len(name)
    return _frame(width, height, title, body)
