"""What a session report holds, sans-I/O: the event timeline, and per attendee and event the
result (ok / skipped / failed, with the reason), its latency and, for browser attendees, the
screenshot taken right after the replay.

`ReportBuilder` collects them as a session runs (any command can feed it); `SessionReport` is
what `bridge/report/html.py` renders.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bridge.protocol.events import Navigation, SessionEvent, StepEvent


class Outcome(enum.StrEnum):
    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class TimelineEvent:
    key: str
    #: Milliseconds after the report's start.
    offset_ms: float
    type: str
    step: str
    summary: str


@dataclass(frozen=True)
class AttendeeResult:
    attendee: str
    event_key: str
    outcome: Outcome
    reason: str = ""
    latency_ms: float | None = None
    #: A file beside index.html (relative path), for browser attendees.
    screenshot: str | None = None


@dataclass(frozen=True)
class AttendeeInfo:
    name: str
    mode: str
    browser: bool
    note: str = ""


@dataclass(frozen=True)
class SessionReport:
    title: str
    session_name: str
    session_id: str
    guide: str
    started_ms: float
    attendees: tuple[AttendeeInfo, ...]
    timeline: tuple[TimelineEvent, ...]
    results: tuple[AttendeeResult, ...]
    #: What the latency column measures, in words.
    latency_meaning: str
    notes: tuple[str, ...] = ()

    @property
    def latencies(self) -> list[float]:
        return [r.latency_ms for r in self.results if r.latency_ms is not None]

    def result(self, attendee: str, key: str) -> AttendeeResult | None:
        for result in self.results:
            if result.attendee == attendee and result.event_key == key:
                return result
        return None


def event_key(event: SessionEvent) -> str:
    """One event's identity across attendees: the presenter's sequence number when it sends
    one, else its type, step and timestamp."""
    if event.seq is not None:
        return f"seq:{event.seq}"
    return f"{event.TYPE}:{step_of(event)}:{event.timestamp}"


def step_of(event: SessionEvent) -> str:
    if isinstance(event, StepEvent):
        return event.stepId
    if isinstance(event, Navigation):
        return event.tutorialUrl
    return ""


@dataclass
class ReportBuilder:
    title: str
    latency_meaning: str
    started_ms: float
    session_name: str = ""
    session_id: str = ""
    guide: str = ""
    notes: list[str] = field(default_factory=list)
    _attendees: dict[str, AttendeeInfo] = field(default_factory=dict)
    _timeline: dict[str, TimelineEvent] = field(default_factory=dict)
    _results: dict[tuple[str, str], AttendeeResult] = field(default_factory=dict)

    def attendee(self, name: str, mode: str, *, browser: bool, note: str = "") -> None:
        self._attendees[name] = AttendeeInfo(name, mode, browser, note)

    def event(self, key: str, at_ms: float, event: SessionEvent) -> None:
        """An event of the session, at epoch milliseconds `at_ms` (the first report wins)."""
        self.timeline_entry(key, at_ms, event.TYPE, step_of(event), str(event))

    def timeline_entry(self, key: str, at_ms: float, type: str, step: str, summary: str) -> None:
        if key not in self._timeline:
            offset = max(0.0, at_ms - self.started_ms)
            self._timeline[key] = TimelineEvent(key, offset, type, step, summary)

    def result(
        self,
        attendee: str,
        key: str,
        outcome: Outcome,
        *,
        reason: str = "",
        latency_ms: float | None = None,
        screenshot: str | None = None,
    ) -> None:
        self._results[(attendee, key)] = AttendeeResult(
            attendee, key, outcome, reason, latency_ms, screenshot
        )

    def build(self) -> SessionReport:
        timeline = sorted(self._timeline.values(), key=lambda e: e.offset_ms)
        order = {event.key: i for i, event in enumerate(timeline)}
        results = sorted(
            self._results.values(), key=lambda r: (r.attendee, order.get(r.event_key, 1 << 30))
        )
        return SessionReport(
            title=self.title,
            session_name=self.session_name,
            session_id=self.session_id,
            guide=self.guide,
            started_ms=self.started_ms,
            attendees=tuple(self._attendees.values()),
            timeline=tuple(timeline),
            results=tuple(results),
            latency_meaning=self.latency_meaning,
            notes=tuple(self.notes),
        )
