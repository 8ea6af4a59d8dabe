"""How far the presenter's clock is from ours, sans-I/O.

Delivery latency is an event's arrival (our clock) less the presenter's timestamp (its clock).
On one machine the two clocks are one; across machines they may differ, so the offset
`theta` (ours minus the presenter's) is bounded from the messages that carry the presenter's
time:
- session_start answers our attendee_join: the presenter stamped it between our sending the
  join and our receiving the answer, so `join_sent - sent <= theta <= received - sent` (a
  round trip, as NTP does);
- every heartbeat and event arrived after it was stamped: `theta <= received - sent`.
Timestamps are whole milliseconds, so each bound gets one millisecond of slack.
"""

from __future__ import annotations

from dataclasses import dataclass

SLACK_MS = 1.0


@dataclass
class ClockBounds:
    lower: float = float("-inf")
    upper: float = float("inf")

    def round_trip(self, join_sent: float, sent: float, received: float) -> None:
        self.lower = max(self.lower, join_sent - sent - SLACK_MS)
        self.one_way(sent, received)

    def one_way(self, sent: float, received: float) -> None:
        self.upper = min(self.upper, received - sent + SLACK_MS)

    @property
    def known(self) -> bool:
        return self.lower > float("-inf") and self.upper < float("inf")


@dataclass(frozen=True)
class ClockEstimate:
    #: Ours minus the presenter's, in milliseconds.
    offset_ms: float
    #: The offset is within offset_ms +/- uncertainty_ms.
    uncertainty_ms: float
    #: The clocks differ by more than the uncertainty: latencies are corrected by the offset.
    corrected: bool

    def describe(self) -> str:
        if not self.corrected:
            return (
                "delivery latency from the presenter's timestamps; its clock and this "
                f"machine's agree (within +/-{self.uncertainty_ms:.1f} ms)"
            )
        side = "behind" if self.offset_ms > 0 else "ahead of"
        return (
            f"the presenter's clock runs about {abs(self.offset_ms):.1f} ms {side} this "
            f"machine's (+/-{self.uncertainty_ms:.1f} ms, estimated from the join round trips "
            "and heartbeats); latencies are corrected by it"
        )


def estimate(bounds: ClockBounds) -> ClockEstimate:
    """The offset in the middle of the bounds; uncorrected when zero lies within them (one
    machine, or clocks that agree as far as can be told)."""
    if not bounds.known:
        return ClockEstimate(0.0, float("inf"), False)
    if bounds.lower > bounds.upper:  # inconsistent by a hair: take the middle, no claim
        middle = (bounds.lower + bounds.upper) / 2
        return ClockEstimate(middle, (bounds.lower - bounds.upper) / 2, abs(middle) > SLACK_MS)
    middle = (bounds.lower + bounds.upper) / 2
    half = (bounds.upper - bounds.lower) / 2
    if bounds.lower <= 0 <= bounds.upper:
        return ClockEstimate(0.0, max(abs(bounds.lower), abs(bounds.upper)), False)
    return ClockEstimate(middle, half, True)
