"""Reconnect delays: exponential with full jitter, bounded (as websockets' backoff())."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff(
    initial: float = 0.5,
    factor: float = 2.0,
    maximum: float = 10.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield delays: jittered in [0, d] for d = initial, initial*factor, ... up to maximum."""
    draw = (rng or random.Random()).random
    delay = initial
    while True:
        yield delay * (0.5 + draw() / 2)
        delay = min(delay * factor, maximum)
