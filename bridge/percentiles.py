"""Percentiles as the benchmarks and reports state them (nearest rank), sans-I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], p: float) -> float | None:
    """The nearest-rank `p`th percentile (0 < p <= 100), or None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def describe_ms(value: float | None) -> str:
    """'1.2 ms', '35 ms', or '-' when there is no value."""
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"
