"""A latency histogram as inline SVG, sans-I/O: values in, markup out (no external assets)."""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 220
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 48, 36, 12
#: Latencies are drawn up to this (about 31 years in ms); a larger one is someone's clock or
#: someone's lie, and must not cost the report (a timestamp of -1e308 once did).
MAX_VALUE = 1e12


def drawable(values: list[float]) -> list[float]:
    """The values a histogram can draw: finite ones, capped at MAX_VALUE."""
    return [min(value, MAX_VALUE) for value in values if math.isfinite(value)]


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int


def bins(values: list[float], count: int = 20) -> list[Bin]:
    """`count` equal bins from 0 to a round number at or above the largest value."""
    values = drawable(values)
    if not values:
        return []
    top = _round_up(max(values))
    width = top / count
    counts = [0] * count
    for value in values:
        counts[min(count - 1, max(0, int(value / width)))] += 1
    return [Bin(i * width, (i + 1) * width, n) for i, n in enumerate(counts)]


def _round_up(value: float) -> float:
    """1, 2 or 5 times a power of ten, at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return float(factor * power)
    return float(10 * power)


def histogram_svg(values: list[float], *, unit: str = "ms", count: int = 20) -> str:
    values = drawable(values)
    if not values:
        return '<p class="empty">No latencies measured.</p>'
    table = bins(values, count)
    tallest = max(b.count for b in table)
    plot_w = WIDTH - MARGIN_LEFT - 8
    plot_h = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    bar_w = plot_w / len(table)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="latency histogram of {len(values)} values">'
    ]
    base = MARGIN_TOP + plot_h
    for i, b in enumerate(table):
        h = plot_h * b.count / tallest
        x = MARGIN_LEFT + i * bar_w
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}">'
            f"<title>{b.low:g}-{b.high:g} {unit}: {b.count}</title></rect>"
        )
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{base}" x2="{WIDTH - 8}" y2="{base}" class="axis"/>'
        f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" y2="{base}" class="axis"/>'
    )
    for i in range(0, len(table) + 1, max(1, len(table) // 5)):
        x = MARGIN_LEFT + i * bar_w
        label = f"{i * table[0].high:g}"
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{label}</text>')
    parts.append(
        f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle">{unit}</text>'
        f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN_TOP + 10}" text-anchor="end">{tallest}</text>'
        f'<text x="{MARGIN_LEFT - 6}" y="{base}" text-anchor="end">0</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
