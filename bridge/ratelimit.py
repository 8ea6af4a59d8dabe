"""A token bucket: `rate` tokens per second up to `capacity`, time passed in by the caller.

Shared by the signaling server (per-socket limits), the transport (pacing our own signaling
sends, data-channel rate limits, OFFER admission) and the terminal (notice throttling).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend `cost` tokens if there are enough at time `now`; say whether it was allowed."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def give(self, cost: float = 1.0) -> None:
        """Give back `cost` tokens that were taken for nothing."""
        self.tokens = min(self.capacity, self.tokens + cost)

    def full(self, now: float) -> bool:
        """Whether the bucket is full again at `now` (one made afresh would be the same)."""
        return self.tokens + max(0.0, now - self.updated) * self.rate >= self.capacity
