"""The swarm's running account, sans-I/O: worker reports in, the live status and the final
summary out.

Who joined, failed or is reconnecting; every delivery with its latency (the presenter's
timestamp to arrival, corrected by the clock estimate when the clocks differ); heartbeats;
browser replays. At the end, an event counts as *missed* by an attendee when the presenter
stamped it while that attendee was connected (after its session_start, before it lost the
presenter or left) and it never arrived. Events are known from what any attendee received.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from bridge.percentiles import percentile
from bridge.swarm.clock import ClockBounds, ClockEstimate, estimate
from bridge.swarm.reports import (
    Connected,
    Ended,
    HeartbeatHeard,
    Joined,
    JoinFailed,
    Received,
    Reconnecting,
    Replayed,
    Report,
    Usage,
)

#: Events stamped this close to the end of the swarm may still be on their way.
IN_FLIGHT_MS = 2000.0


class SwarmState(enum.StrEnum):
    JOINING = "joining"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    ENDED = "ended"


@dataclass
class SwarmAttendee:
    index: int
    name: str
    browser: bool
    state: SwarmState = SwarmState.JOINING
    join_ms: float | None = None
    failure: str = ""
    end_reason: str = ""
    reconnects: int = 0
    #: Event key -> arrival (our epoch ms).
    received: dict[str, float] = field(default_factory=dict)
    #: Connected stretches in the presenter's clock: [session_start stamp, end or None].
    intervals: list[list[float | None]] = field(default_factory=list)
    last_heard: float = 0.0
    replays_ok: int = 0
    replays_failed: int = 0
    last_replay: str = ""


@dataclass(frozen=True)
class SeenEvent:
    key: str
    type: str
    step: str
    summary: str
    sent: float


@dataclass(frozen=True)
class Figures:
    count: int
    p50: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: list[float]) -> Figures:
        return cls(
            len(values),
            percentile(values, 50),
            percentile(values, 99),
            max(values) if values else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "p50": self.p50, "p99": self.p99, "max": self.max}


@dataclass(frozen=True)
class SwarmStatus:
    """What the live table shows."""

    attendees: int
    browsers: int
    joined: int
    failed: int
    reconnecting: int
    ended: int
    events: int
    deliveries: int
    delivery: Figures
    heartbeat: Figures
    round_trip: Figures
    replays_ok: int
    replays_failed: int
    clock: ClockEstimate

    @property
    def joining(self) -> int:
        return self.attendees - self.joined - self.failed


@dataclass(frozen=True)
class Missed:
    attendee: str
    key: str
    summary: str


@dataclass(frozen=True)
class SwarmSummary:
    status: SwarmStatus
    failures: tuple[tuple[str, str], ...]
    missed: tuple[Missed, ...]
    reconnects: int
    join: Figures
    cpu_seconds: float
    cores_after_join: float | None

    @property
    def ok(self) -> bool:
        return not self.failures and not self.missed

    def to_json(self) -> dict[str, Any]:
        s = self.status
        return {
            "ok": self.ok,
            "attendees": s.attendees,
            "browsers": s.browsers,
            "joined": s.joined,
            "failed": s.failed,
            "failures": [{"name": n, "reason": r} for n, r in self.failures],
            "reconnects": self.reconnects,
            "events": s.events,
            "deliveries": s.deliveries,
            "missed": len(self.missed),
            "missed_events": [
                {"name": m.attendee, "event": m.key, "summary": m.summary} for m in self.missed
            ],
            "delivery_ms": s.delivery.to_json(),
            "heartbeat_ms": s.heartbeat.to_json(),
            "round_trip_ms": s.round_trip.to_json(),
            "join_ms": self.join.to_json(),
            "replays": {"ok": s.replays_ok, "failed": s.replays_failed},
            "clock": {
                "offset_ms": s.clock.offset_ms,
                "uncertainty_ms": s.clock.uncertainty_ms
                if s.clock.uncertainty_ms != float("inf")
                else None,
                "corrected": s.clock.corrected,
                "note": s.clock.describe(),
            },
            "cpu_seconds": self.cpu_seconds,
            "cores_after_join": self.cores_after_join,
        }


#: Events a presenter sends by itself to each attendee, not broadcast: not counted.
NOT_BROADCAST = frozenset({"session_start", "sync_state", "session_end", "end"})


class SwarmTally:
    def __init__(self, names: list[str], browsers: int) -> None:
        self.attendees = [
            SwarmAttendee(i, name, browser=i < browsers) for i, name in enumerate(names)
        ]
        self.browsers = browsers
        self.events: dict[str, SeenEvent] = {}
        self.deliveries: list[tuple[float, float]] = []  # (sent, received)
        self.heartbeats: list[tuple[float, float]] = []
        self.round_trips: list[float] = []
        self.replays: list[Replayed] = []
        self.bounds = ClockBounds()
        self._usage: dict[int, tuple[float, float]] = {}
        self._usage_at_join: dict[int, tuple[float, float]] = {}

    def apply(self, report: Report) -> None:
        if isinstance(report, Usage):
            self._usage[report.worker] = (report.cpu, report.at)
            if report.phase == "joined":
                self._usage_at_join[report.worker] = (report.cpu, report.at)
            return
        if not 0 <= report.index < len(self.attendees):
            return
        attendee = self.attendees[report.index]
        if isinstance(report, Joined):
            attendee.state, attendee.join_ms = SwarmState.CONNECTED, report.join_ms
        elif isinstance(report, JoinFailed):
            attendee.state, attendee.failure = SwarmState.FAILED, report.reason
        elif isinstance(report, Connected):
            if attendee.state is SwarmState.RECONNECTING:
                attendee.state = SwarmState.CONNECTED
            attendee.intervals.append([report.sent, None])
            attendee.last_heard = report.received
            self.round_trips.append(report.received - report.join_sent)
            self.bounds.round_trip(report.join_sent, report.sent, report.received)
        elif isinstance(report, Reconnecting):
            attendee.state = SwarmState.RECONNECTING
            attendee.reconnects += 1
            self._close_interval(attendee, report.heard)
        elif isinstance(report, Received):
            attendee.last_heard = report.received
            if report.type in NOT_BROADCAST:
                return
            attendee.received.setdefault(report.key, report.received)
            self.events.setdefault(
                report.key,
                SeenEvent(report.key, report.type, report.step, report.summary, report.sent),
            )
            if report.sent:
                self.deliveries.append((report.sent, report.received))
                self.bounds.one_way(report.sent, report.received)
        elif isinstance(report, HeartbeatHeard):
            attendee.last_heard = report.received
            self.heartbeats.append((report.sent, report.received))
            self.bounds.one_way(report.sent, report.received)
        elif isinstance(report, Replayed):
            self.replays.append(report)
            if report.ok:
                attendee.replays_ok += 1
            else:
                attendee.replays_failed += 1
            attendee.last_replay = ("ok: " if report.ok else "failed: ") + report.detail
        elif isinstance(report, Ended) and attendee.state is not SwarmState.FAILED:
            attendee.state = SwarmState.ENDED
            attendee.end_reason = report.reason
            self._close_interval(attendee, report.at)

    def _close_interval(self, attendee: SwarmAttendee, at_local: float) -> None:
        if attendee.intervals and attendee.intervals[-1][1] is None:
            attendee.intervals[-1][1] = at_local - self._correction()

    @property
    def cpu_seconds(self) -> float:
        return sum(cpu for cpu, _ in self._usage.values())

    @property
    def cores_after_join(self) -> float | None:
        """CPU cores the workers kept busy once everyone had joined (None until measured)."""
        cores = 0.0
        measured = False
        for worker, (cpu_joined, at_joined) in self._usage_at_join.items():
            cpu, at = self._usage[worker]
            if at > at_joined:
                cores += (cpu - cpu_joined) / ((at - at_joined) / 1000)
                measured = True
        return cores if measured else None

    def _correction(self) -> float:
        clock = estimate(self.bounds)
        return clock.offset_ms if clock.corrected else 0.0

    def status(self) -> SwarmStatus:
        correction = self._correction()
        counts = {state: 0 for state in SwarmState}
        for attendee in self.attendees:
            counts[attendee.state] += 1
        joined = sum(1 for a in self.attendees if a.join_ms is not None)
        return SwarmStatus(
            attendees=len(self.attendees),
            browsers=self.browsers,
            joined=joined,
            failed=counts[SwarmState.FAILED],
            reconnecting=counts[SwarmState.RECONNECTING],
            ended=counts[SwarmState.ENDED],
            events=len(self.events),
            deliveries=len(self.deliveries),
            delivery=Figures.of([r - s - correction for s, r in self.deliveries]),
            heartbeat=Figures.of([r - s - correction for s, r in self.heartbeats]),
            round_trip=Figures.of(self.round_trips),
            replays_ok=sum(1 for r in self.replays if r.ok),
            replays_failed=sum(1 for r in self.replays if not r.ok),
            clock=estimate(self.bounds),
        )

    def missed(self, finished_local: float) -> list[Missed]:
        correction = self._correction()
        horizon = finished_local - correction - IN_FLIGHT_MS
        missed = []
        for attendee in self.attendees:
            for event in self.events.values():
                if not event.sent or event.key in attendee.received:
                    continue
                for start, end in attendee.intervals:
                    assert start is not None
                    if start < event.sent <= (horizon if end is None else min(end, horizon)):
                        missed.append(Missed(attendee.name, event.key, event.summary))
                        break
        return missed

    def summary(self, finished_local: float) -> SwarmSummary:
        status = self.status()
        return SwarmSummary(
            status=status,
            failures=tuple((a.name, a.failure) for a in self.attendees if a.failure),
            missed=tuple(self.missed(finished_local)),
            reconnects=sum(a.reconnects for a in self.attendees),
            join=Figures.of([a.join_ms for a in self.attendees if a.join_ms is not None]),
            cpu_seconds=self.cpu_seconds,
            cores_after_join=self.cores_after_join,
        )
