"""The recording format: a session as JSON lines, sans-I/O.

Line 1 is a `Header` (format name and version, tool version, role, session, guide, Grafana);
every other line is one record with `t`, milliseconds since the header's `started`, and a
`kind`: `event` (a session event, Pathfinder's wire form), `join`, `leave`, `mode_change`,
`result` (an attendee's replay result) or `end`. `parse_recording()` reads a whole file and
refuses it, naming the line, when anything is wrong: nothing is half-read.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import BridgeError, ProtocolError
from bridge.protocol.events import AttendeeMode, SessionEvent, parse_event

FORMAT = "pathfinder-bridge-recording"
VERSION = 1
#: A longer line is refused: events are limited far below this (bridge/protocol/events.py).
MAX_LINE = 256 * 1024
MAX_TEXT = 4096


class RecordingError(BridgeError):
    """A recording cannot be read; the message names the file's line."""


class Role(enum.StrEnum):
    PRESENTER = "presenter"
    ATTENDEE = "attendee"


@dataclass(frozen=True)
class Header:
    role: Role
    tool: str
    started_ms: int
    session_id: str = ""
    session_name: str = ""
    guide: str = ""
    grafana_url: str = ""
    grafana_version: str = ""
    #: The attendee whose recording this is (role attendee), else "".
    attendee: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "tool": self.tool,
            "role": self.role.value,
            "started": self.started_ms,
            "session": {"id": self.session_id, "name": self.session_name},
            "guide": self.guide,
            "grafana": {"url": self.grafana_url, "version": self.grafana_version},
            "attendee": self.attendee,
        }


class RecordKind(enum.StrEnum):
    EVENT = "event"
    JOIN = "join"
    LEAVE = "leave"
    MODE_CHANGE = "mode_change"
    RESULT = "result"
    END = "end"


@dataclass(frozen=True)
class EventRecord:
    t: int
    event: SessionEvent
    KIND = RecordKind.EVENT

    def body(self) -> dict[str, Any]:
        return {"event": self.event.to_wire()}


@dataclass(frozen=True)
class JoinRecord:
    t: int
    attendee: str
    mode: AttendeeMode
    KIND = RecordKind.JOIN

    def body(self) -> dict[str, Any]:
        return {"attendee": self.attendee, "mode": self.mode.value}


@dataclass(frozen=True)
class LeaveRecord:
    t: int
    attendee: str
    reason: str = ""
    KIND = RecordKind.LEAVE

    def body(self) -> dict[str, Any]:
        return {"attendee": self.attendee, "reason": self.reason}


@dataclass(frozen=True)
class ModeChangeRecord:
    t: int
    attendee: str
    mode: AttendeeMode
    KIND = RecordKind.MODE_CHANGE

    def body(self) -> dict[str, Any]:
        return {"attendee": self.attendee, "mode": self.mode.value}


@dataclass(frozen=True)
class ResultRecord:
    """What an attendee's replay of one step came to: ok, or failed with a reason."""

    t: int
    attendee: str
    step: str
    ok: bool
    detail: str = ""
    KIND = RecordKind.RESULT

    def body(self) -> dict[str, Any]:
        return {"attendee": self.attendee, "step": self.step, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class EndRecord:
    t: int
    reason: str = ""
    KIND = RecordKind.END

    def body(self) -> dict[str, Any]:
        return {"reason": self.reason}


Record = EventRecord | JoinRecord | LeaveRecord | ModeChangeRecord | ResultRecord | EndRecord


@dataclass(frozen=True)
class Recording:
    header: Header
    records: tuple[Record, ...] = field(default_factory=tuple)
    #: The file line of each record (records[i] is on lines[i]), for messages.
    lines: tuple[int, ...] = field(default_factory=tuple)

    @property
    def events(self) -> list[EventRecord]:
        return [r for r in self.records if isinstance(r, EventRecord)]

    @property
    def results(self) -> list[ResultRecord]:
        return [r for r in self.records if isinstance(r, ResultRecord)]


def serialize(item: Header | Record) -> str:
    """One line of the file (no newline)."""
    if isinstance(item, Header):
        wire = item.to_wire()
    else:
        wire = {"t": item.t, "kind": item.KIND.value, **item.body()}
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# -- reading ----------------------------------------------------------------------------------


class _Line:
    """Typed reads from one record, with the line number in every error."""

    def __init__(self, data: dict[str, Any], number: int) -> None:
        self.data, self.number = data, number

    def fail(self, problem: str) -> RecordingError:
        return RecordingError(f"line {self.number}: {problem}")

    def text(self, key: str, *, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"'{key}' must be a string")
        if len(value) > MAX_TEXT:
            raise self.fail(f"'{key}' is longer than {MAX_TEXT} characters")
        return value

    def mode(self, key: str) -> AttendeeMode:
        try:
            return AttendeeMode(str(self.data.get(key)))
        except ValueError:
            raise self.fail(f"'{key}' must be guided or follow") from None

    def offset(self) -> int:
        value = self.data.get("t")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise self.fail("'t' must be a number of milliseconds, 0 or more")
        return int(value)


def _parse_header(data: dict[str, Any], number: int) -> Header:
    line = _Line(data, number)
    if data.get("format") != FORMAT:
        raise line.fail(f'not a pathfinder-bridge recording (no "format": "{FORMAT}" header)')
    version = data.get("version")
    if version != VERSION:
        raise line.fail(
            f"recording format version {str(version)[:20]} is not supported "
            f"(this pathfinder-bridge reads version {VERSION})"
        )
    try:
        role = Role(str(data.get("role")))
    except ValueError:
        raise line.fail("'role' must be presenter or attendee") from None
    started = data.get("started")
    if isinstance(started, bool) or not isinstance(started, int) or started < 0:
        raise line.fail("'started' must be epoch milliseconds")
    session = data.get("session") or {}
    grafana = data.get("grafana") or {}
    if not isinstance(session, dict) or not isinstance(grafana, dict):
        raise line.fail("'session' and 'grafana' must be objects")
    sub_session, sub_grafana = _Line(session, number), _Line(grafana, number)
    return Header(
        role=role,
        tool=line.text("tool", default=""),
        started_ms=started,
        session_id=sub_session.text("id", default=""),
        session_name=sub_session.text("name", default=""),
        guide=line.text("guide", default=""),
        grafana_url=sub_grafana.text("url", default=""),
        grafana_version=sub_grafana.text("version", default=""),
        attendee=line.text("attendee", default=""),
    )


def _parse_record(data: dict[str, Any], number: int) -> Record:
    line = _Line(data, number)
    try:
        kind = RecordKind(str(data.get("kind")))
    except ValueError:
        raise line.fail(f"unknown record kind {str(data.get('kind'))[:40]!r}") from None
    t = line.offset()
    if kind is RecordKind.EVENT:
        try:
            event = parse_event(data.get("event"))
        except ProtocolError as exc:
            raise line.fail(str(exc)) from None
        return EventRecord(t, event)
    if kind is RecordKind.JOIN:
        return JoinRecord(t, line.text("attendee"), line.mode("mode"))
    if kind is RecordKind.LEAVE:
        return LeaveRecord(t, line.text("attendee"), line.text("reason", default=""))
    if kind is RecordKind.MODE_CHANGE:
        return ModeChangeRecord(t, line.text("attendee"), line.mode("mode"))
    if kind is RecordKind.RESULT:
        ok = data.get("ok")
        if not isinstance(ok, bool):
            raise line.fail("'ok' must be true or false")
        return ResultRecord(
            t, line.text("attendee"), line.text("step"), ok, line.text("detail", default="")
        )
    return EndRecord(t, line.text("reason", default=""))


def parse_recording(lines: Iterable[str]) -> Recording:
    """A whole recording from its lines (as read from the file, newlines kept), or a
    RecordingError naming the first bad line."""
    header: Header | None = None
    records: list[Record] = []
    numbers: list[int] = []
    last_t = 0
    for number, raw in enumerate(lines, start=1):
        if len(raw) > MAX_LINE:
            raise RecordingError(f"line {number}: longer than {MAX_LINE} characters")
        complete = raw.endswith("\n")
        text = raw.strip()
        if not text:
            continue
        try:
            data = json.loads(text)
        except ValueError:
            if not complete:
                raise RecordingError(
                    f"line {number}: truncated (the recording ends in the middle of a line)"
                ) from None
            raise RecordingError(f"line {number}: not JSON") from None
        if not isinstance(data, dict):
            raise RecordingError(f"line {number}: a record must be a JSON object")
        if header is None:
            header = _parse_header(data, number)
            continue
        record = _parse_record(data, number)
        if record.t < last_t:
            raise RecordingError(
                f"line {number}: time goes backwards ({record.t} ms after {last_t} ms)"
            )
        last_t = record.t
        records.append(record)
        numbers.append(number)
    if header is None:
        raise RecordingError("line 1: the recording is empty")
    return Recording(header, tuple(records), tuple(numbers))
