"""What a swarm worker process tells its parent, one JSON object per line, sans-I/O.

Every report names the attendee by its index in the swarm; times are epoch milliseconds of
the worker's clock (all workers run on the parent's machine) or of the presenter's clock
(`sent`: the presenter's own timestamps, as they arrived). `parse_report` checks a line once
at the edge, so the tally can trust it.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass
from typing import Any, ClassVar

from bridge.errors import ProtocolError


@dataclass(frozen=True)
class Joined:
    """The attendee verified the presenter and joined; `join_ms` is how long it took."""

    KIND: ClassVar[str] = "joined"
    index: int
    join_ms: float


@dataclass(frozen=True)
class JoinFailed:
    KIND: ClassVar[str] = "join_failed"
    index: int
    reason: str


@dataclass(frozen=True)
class Reconnecting:
    """The link to the presenter dropped; `heard` is when the presenter was last heard."""

    KIND: ClassVar[str] = "reconnecting"
    index: int
    heard: float


@dataclass(frozen=True)
class Connected:
    """session_start arrived (at the first join and every rejoin): the presenter stamped it
    `sent`, it answered attendee_join sent at `join_sent`, and arrived at `received`."""

    KIND: ClassVar[str] = "connected"
    index: int
    join_sent: float
    sent: float
    received: float


@dataclass(frozen=True)
class Received:
    """A presenter's event: its identity, what it is, the presenter's timestamp, its arrival."""

    KIND: ClassVar[str] = "received"
    index: int
    key: str
    type: str
    step: str
    summary: str
    sent: float
    received: float


@dataclass(frozen=True)
class HeartbeatHeard:
    KIND: ClassVar[str] = "heartbeat"
    index: int
    sent: float
    received: float


@dataclass(frozen=True)
class Replayed:
    """A browser attendee's replay of one event: the result it sent to the presenter."""

    KIND: ClassVar[str] = "replayed"
    index: int
    key: str
    ok: bool
    detail: str
    finished: float
    screenshot: str = ""


@dataclass(frozen=True)
class Ended:
    KIND: ClassVar[str] = "ended"
    index: int
    reason: str
    at: float


@dataclass(frozen=True)
class Usage:
    """A worker's CPU seconds so far (user + system), at `at`: once all its attendees have
    tried to join (`joined`), then every few seconds (`tick`) and when it exits (`final`)."""

    KIND: ClassVar[str] = "usage"
    worker: int
    phase: str
    cpu: float
    at: float


Report = (
    Joined
    | JoinFailed
    | Reconnecting
    | Connected
    | Received
    | HeartbeatHeard
    | Replayed
    | Ended
    | Usage
)
KINDS: dict[str, type[Report]] = {
    cls.KIND: cls
    for cls in (
        Joined,
        JoinFailed,
        Reconnecting,
        Connected,
        Received,
        HeartbeatHeard,
        Replayed,
        Ended,
        Usage,
    )
}
MAX_TEXT = 2000


def to_line(report: Report) -> str:
    return json.dumps({"kind": report.KIND, **asdict(report)}, separators=(",", ":"))


def _valid(kind: object, value: object) -> bool:
    if kind == "str":
        return isinstance(value, str) and len(value) <= MAX_TEXT
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    return isinstance(value, int | float) and math.isfinite(value)


def parse_report(line: str) -> Report:
    """One line of a worker's output, or ProtocolError."""
    try:
        data = json.loads(line)
    except ValueError:
        raise ProtocolError("a worker line is not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("a worker line is not an object")
    cls = KINDS.get(str(data.get("kind", "")))
    if cls is None:
        raise ProtocolError("a worker line of an unknown kind")
    values: dict[str, Any] = {}
    for name, spec in cls.__dataclass_fields__.items():
        if name not in data:
            if spec.default is not MISSING:
                continue
            raise ProtocolError(f"a {cls.KIND} line without {name}")
        if not _valid(spec.type, data[name]):
            raise ProtocolError(f"{cls.KIND}.{name}: not a {spec.type}")
        values[name] = data[name]
    return cls(**values)
