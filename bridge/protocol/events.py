"""Pathfinder Live Sessions events: one frozen dataclass per type, parsed once at the edge.

`parse_event()` takes a decoded message (a dict from BinaryPack or JSON) and returns a typed
event or raises ProtocolError with the reason; nothing is half-applied. Input is lenient
where real Pathfinder messages are (optional fields may be null or missing, some base fields
are omitted); `to_wire()` always emits the full form with Pathfinder's field names.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from bridge.errors import ProtocolError


@dataclass(frozen=True)
class EventLimits:
    max_string: int = 4096
    max_value: int = 65536  # targetValue may be a whole query for a Monaco editor
    max_internal_actions: int = 64
    max_chat: int = 2000


DEFAULT_LIMITS = EventLimits()

#: Numbers on the wire come from JavaScript: integers beyond 2^53 are not exact there, and a
#: BinaryPack double of 1e308 reads as a 309-digit integer here. Epoch milliseconds (event
#: timestamps, heartbeats' sentAt) must fall before the year 2286; Pathfinder sends
#: Date.now(), and 0 or nothing where it has none.
MAX_SAFE_INTEGER = 2**53 - 1
MAX_EPOCH_MS = 10**13

#: A step id shown as it is; any other is quoted (Python's repr: controls escaped), so that a
#: presenter's step id cannot pass for more of the line in `str(event)`.
_PLAIN_STEP_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")


class TargetAction(enum.StrEnum):
    BUTTON = "button"
    HIGHLIGHT = "highlight"
    FORMFILL = "formfill"
    NAVIGATE = "navigate"
    HOVER = "hover"
    MULTISTEP = "multistep"
    NOOP = "noop"
    GUIDED = "guided"
    POPOUT = "popout"


class AttendeeMode(enum.StrEnum):
    GUIDED = "guided"
    FOLLOW = "follow"


class AttendeeState(enum.StrEnum):
    JOINED = "joined"
    LEFT = "left"
    MODE_CHANGED = "mode_changed"
    ERROR = "error"


class _Fields:
    """Typed reads from one incoming dict, with the event type in every error."""

    def __init__(self, data: Mapping[str, Any], where: str, limits: EventLimits) -> None:
        self.data, self.where, self.limits = data, where, limits

    def fail(self, key: str, problem: str) -> ProtocolError:
        return ProtocolError(f"{self.where}.{key}: {problem}")

    def text(self, key: str, *, default: str | None = None, limit: int | None = None) -> str:
        value = self.data.get(key)
        if value is None:
            if default is None:
                raise self.fail(key, "missing")
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {type(value).__name__}")
        if len(value) > (limit or self.limits.max_string):
            raise self.fail(key, f"longer than {limit or self.limits.max_string} characters")
        return value

    def optional_text(self, key: str, *, limit: int | None = None) -> str | None:
        return None if self.data.get(key) is None else self.text(key, limit=limit)

    def number(
        self,
        key: str,
        *,
        default: float | None = None,
        low: float = -MAX_SAFE_INTEGER,
        high: float = MAX_SAFE_INTEGER,
    ) -> float:
        """A finite number in low..high."""
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "expected a number")
        if not low <= value <= high:  # NaN fails this too; a huge int is never made a float
            raise self.fail(key, f"out of range ({low:g}..{high:g})")
        return float(value)

    def integer(
        self,
        key: str,
        *,
        default: int | None = None,
        low: int = -MAX_SAFE_INTEGER,
        high: int = MAX_SAFE_INTEGER,
    ) -> int:
        """An integer in low..high (a float with no fraction counts)."""
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "expected an integer")
        if not low <= value <= high:
            raise self.fail(key, f"out of range ({low}..{high})")
        return value

    def optional_integer(self, key: str, *, low: int = -MAX_SAFE_INTEGER) -> int | None:
        return None if self.data.get(key) is None else self.integer(key, low=low)

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self.fail(key, "expected true or false")
        return value

    def choice(self, key: str, kind: type[E], *, default: E | None = None) -> E:
        value = self.data.get(key)
        if value is None and default is not None:
            return default
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            raise self.fail(key, f"must be one of {allowed}") from None

    def mapping(self, key: str, *, optional: bool = False) -> Mapping[str, Any] | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(key, "expected an object")
        return value


E = TypeVar("E", bound=enum.Enum)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


@dataclass(frozen=True)
class InternalAction:
    targetAction: TargetAction
    refTarget: str | None = None
    targetValue: str | None = None
    requirements: str | None = None

    @classmethod
    def parse(cls, fields: _Fields) -> InternalAction:
        return cls(
            fields.choice("targetAction", TargetAction),
            fields.optional_text("refTarget"),
            fields.optional_text("targetValue", limit=fields.limits.max_value),
            fields.optional_text("requirements"),
        )

    def to_wire(self) -> dict[str, Any]:
        return _drop_none(
            {
                "targetAction": self.targetAction.value,
                "refTarget": self.refTarget,
                "targetValue": self.targetValue,
                "requirements": self.requirements,
            }
        )


@dataclass(frozen=True)
class InteractiveAction:
    targetAction: TargetAction
    refTarget: str
    targetValue: str | None = None
    targetComment: str | None = None
    internalActions: tuple[InternalAction, ...] | None = None

    @classmethod
    def parse(cls, fields: _Fields) -> InteractiveAction:
        internal = fields.data.get("internalActions")
        actions: tuple[InternalAction, ...] | None = None
        if internal is not None:
            if not isinstance(internal, list):
                raise fields.fail("internalActions", "expected a list")
            if len(internal) > fields.limits.max_internal_actions:
                raise fields.fail(
                    "internalActions", f"more than {fields.limits.max_internal_actions}"
                )
            parsed = []
            for i, item in enumerate(internal):
                if not isinstance(item, Mapping):
                    raise fields.fail(f"internalActions[{i}]", "expected an object")
                sub = _Fields(item, f"{fields.where}.internalActions[{i}]", fields.limits)
                parsed.append(InternalAction.parse(sub))
            actions = tuple(parsed)
        return cls(
            fields.choice("targetAction", TargetAction),
            fields.text("refTarget", default=""),
            fields.optional_text("targetValue", limit=fields.limits.max_value),
            fields.optional_text("targetComment"),
            actions,
        )

    def to_wire(self) -> dict[str, Any]:
        return _drop_none(
            {
                "targetAction": self.targetAction.value,
                "refTarget": self.refTarget,
                "targetValue": self.targetValue,
                "targetComment": self.targetComment,
                "internalActions": None
                if self.internalActions is None
                else [a.to_wire() for a in self.internalActions],
            }
        )


@dataclass(frozen=True)
class SessionConfig:
    name: str
    tutorialUrl: str
    defaultMode: AttendeeMode = AttendeeMode.GUIDED

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tutorialUrl": self.tutorialUrl,
            "defaultMode": self.defaultMode.value,
        }


@dataclass(frozen=True, kw_only=True)
class SessionEvent:
    """Base of every session event: the four fields Pathfinder puts on each one."""

    TYPE: ClassVar[str] = ""
    sessionId: str = ""
    timestamp: int = 0
    senderId: str = ""
    #: Our extension: the presenter numbers its broadcasts so a rejoining attendee can tell
    #: what it has already replayed. Pathfinder ignores fields it does not know.
    seq: int | None = None

    def body(self) -> dict[str, Any]:
        return {}

    def to_wire(self) -> dict[str, Any]:
        wire = {
            "type": self.TYPE,
            "sessionId": self.sessionId,
            "timestamp": self.timestamp,
            "senderId": self.senderId,
            **self.body(),
        }
        if self.seq is not None:
            wire["seq"] = self.seq
        return wire

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {}

    def __str__(self) -> str:
        return self.TYPE


@dataclass(frozen=True, kw_only=True)
class StepEvent(SessionEvent):
    stepId: str
    action: InteractiveAction
    coordinates: tuple[float, float] | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none(
            {
                "stepId": self.stepId,
                "action": self.action.to_wire(),
                "coordinates": None
                if self.coordinates is None
                else {"x": self.coordinates[0], "y": self.coordinates[1]},
            }
        )

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        action = fields.mapping("action")
        assert action is not None
        coordinates = fields.mapping("coordinates", optional=True)
        point = None
        if coordinates is not None:
            sub = _Fields(coordinates, f"{fields.where}.coordinates", fields.limits)
            point = (sub.number("x"), sub.number("y"))
        return {
            "stepId": fields.text("stepId", default=""),
            "action": InteractiveAction.parse(
                _Fields(action, f"{fields.where}.action", fields.limits)
            ),
            "coordinates": point,
        }

    def __str__(self) -> str:
        action = self.action
        step = self.stepId if _PLAIN_STEP_ID.fullmatch(self.stepId) else repr(self.stepId)
        return f"{self.TYPE} {action.targetAction.value} {action.refTarget!r} (step {step})"


@dataclass(frozen=True, kw_only=True)
class ShowMe(StepEvent):
    TYPE: ClassVar[str] = "show_me"


@dataclass(frozen=True, kw_only=True)
class DoIt(StepEvent):
    TYPE: ClassVar[str] = "do_it"


@dataclass(frozen=True, kw_only=True)
class Navigation(SessionEvent):
    TYPE: ClassVar[str] = "navigation"
    tutorialUrl: str
    stepNumber: int | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none({"tutorialUrl": self.tutorialUrl, "stepNumber": self.stepNumber})

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {
            "tutorialUrl": fields.text("tutorialUrl"),
            "stepNumber": fields.optional_integer("stepNumber"),
        }


@dataclass(frozen=True, kw_only=True)
class SyncState(SessionEvent):
    """The current state, for late joiners and rejoins. `mode` and `lastEvent` are our
    extensions: the session's default mode and the presenter's last show_me or do_it."""

    TYPE: ClassVar[str] = "sync_state"
    tutorialUrl: str
    stepNumber: int = 0
    mode: AttendeeMode | None = None
    lastEvent: StepEvent | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none(
            {
                "tutorialUrl": self.tutorialUrl,
                "stepNumber": self.stepNumber,
                "mode": self.mode.value if self.mode else None,
                "lastEvent": self.lastEvent.to_wire() if self.lastEvent else None,
            }
        )

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        mode = None if fields.data.get("mode") is None else fields.choice("mode", AttendeeMode)
        last = fields.data.get("lastEvent")
        event = None
        if last is not None:
            parsed = parse_event(last, fields.limits)
            if not isinstance(parsed, StepEvent):
                raise fields.fail("lastEvent", "must be a show_me or do_it")
            event = parsed
        return {
            "tutorialUrl": fields.text("tutorialUrl", default=""),
            "stepNumber": fields.integer("stepNumber", default=0),
            "mode": mode,
            "lastEvent": event,
        }


@dataclass(frozen=True, kw_only=True)
class AttendeeJoin(SessionEvent):
    TYPE: ClassVar[str] = "attendee_join"
    name: str = "Anonymous"
    mode: AttendeeMode = AttendeeMode.GUIDED
    #: Our extension: on a rejoin, the last sequence number this attendee replayed.
    lastSeq: int | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none({"name": self.name, "mode": self.mode.value, "lastSeq": self.lastSeq})

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {
            "name": fields.text("name", default="Anonymous", limit=100) or "Anonymous",
            "mode": fields.choice("mode", AttendeeMode, default=AttendeeMode.GUIDED),
            "lastSeq": fields.optional_integer("lastSeq"),
        }


@dataclass(frozen=True, kw_only=True)
class AttendeeLeave(SessionEvent):
    TYPE: ClassVar[str] = "attendee_leave"


@dataclass(frozen=True, kw_only=True)
class ModeChange(SessionEvent):
    TYPE: ClassVar[str] = "mode_change"
    mode: AttendeeMode

    def body(self) -> dict[str, Any]:
        return {"mode": self.mode.value}

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {"mode": fields.choice("mode", AttendeeMode)}


@dataclass(frozen=True, kw_only=True)
class AttendeeStatus(SessionEvent):
    TYPE: ClassVar[str] = "attendee_status"
    status: AttendeeState
    #: Ours carries the step id; Pathfinder's type says a step number (2.16 never reads it).
    currentStep: str | None = None
    mode: AttendeeMode | None = None
    error: str | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none(
            {
                "status": self.status.value,
                "currentStep": self.currentStep,
                "mode": self.mode.value if self.mode else None,
                "error": self.error,
            }
        )

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        mode = None if fields.data.get("mode") is None else fields.choice("mode", AttendeeMode)
        step = fields.data.get("currentStep")
        return {
            "status": fields.choice("status", AttendeeState),
            "currentStep": None if step is None else str(step)[: fields.limits.max_string],
            "mode": mode,
            "error": fields.optional_text("error"),
        }


@dataclass(frozen=True, kw_only=True)
class SessionStart(SessionEvent):
    TYPE: ClassVar[str] = "session_start"
    config: SessionConfig

    def body(self) -> dict[str, Any]:
        return {"config": self.config.to_wire()}

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        raw = fields.mapping("config")
        assert raw is not None
        sub = _Fields(raw, f"{fields.where}.config", fields.limits)
        return {
            "config": SessionConfig(
                sub.text("name", default=""),
                sub.text("tutorialUrl", default=""),
                sub.choice("defaultMode", AttendeeMode, default=AttendeeMode.GUIDED),
            )
        }


@dataclass(frozen=True, kw_only=True)
class SessionEnd(SessionEvent):
    TYPE: ClassVar[str] = "session_end"
    reason: str | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none({"reason": self.reason})

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {"reason": fields.optional_text("reason")}


@dataclass(frozen=True, kw_only=True)
class Pause(SessionEvent):
    TYPE: ClassVar[str] = "pause"


@dataclass(frozen=True, kw_only=True)
class Resume(SessionEvent):
    TYPE: ClassVar[str] = "resume"


@dataclass(frozen=True, kw_only=True)
class End(SessionEvent):
    TYPE: ClassVar[str] = "end"
    message: str | None = None

    def body(self) -> dict[str, Any]:
        return _drop_none({"message": self.message})

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {"message": fields.optional_text("message")}


@dataclass(frozen=True, kw_only=True)
class Heartbeat(SessionEvent):
    TYPE: ClassVar[str] = "heartbeat"
    sentAt: float

    def body(self) -> dict[str, Any]:
        return {"sentAt": self.sentAt}

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {"sentAt": fields.number("sentAt", low=0, high=MAX_EPOCH_MS)}


@dataclass(frozen=True, kw_only=True)
class HandRaise(SessionEvent):
    TYPE: ClassVar[str] = "hand_raise"
    attendeeName: str
    isRaised: bool

    def body(self) -> dict[str, Any]:
        return {"attendeeName": self.attendeeName, "isRaised": self.isRaised}

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {
            "attendeeName": fields.text("attendeeName", default="Anonymous", limit=100),
            "isRaised": fields.flag("isRaised"),
        }


@dataclass(frozen=True, kw_only=True)
class ChatMessage(SessionEvent):
    TYPE: ClassVar[str] = "chat_message"
    senderName: str
    message: str

    def body(self) -> dict[str, Any]:
        return {"senderName": self.senderName, "message": self.message}

    @classmethod
    def parse_body(cls, fields: _Fields) -> dict[str, Any]:
        return {
            "senderName": fields.text("senderName", default="Anonymous", limit=100),
            "message": fields.text("message", limit=fields.limits.max_chat),
        }


@dataclass(frozen=True)
class PresenterChallenge:
    """Attendee -> presenter, before anything else: prove you hold the join code's key.

    `proof` is our extension (Pathfinder ignores it): "bound-v1" asks for the proof bound to
    this connection (`bridge/protocol/proof.py`); None is upstream's plain proof."""

    TYPE: ClassVar[str] = "presenter_challenge"
    nonce: str
    proof: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return _drop_none({"type": self.TYPE, "nonce": self.nonce, "proof": self.proof})


@dataclass(frozen=True)
class PresenterResponse:
    TYPE: ClassVar[str] = "presenter_response"
    nonce: str
    signature: str
    proof: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return _drop_none(
            {
                "type": self.TYPE,
                "nonce": self.nonce,
                "signature": self.signature,
                "proof": self.proof,
            }
        )


EVENT_TYPES: dict[str, type[SessionEvent]] = {
    cls.TYPE: cls
    for cls in (
        ShowMe,
        DoIt,
        Navigation,
        SyncState,
        AttendeeJoin,
        AttendeeLeave,
        ModeChange,
        AttendeeStatus,
        SessionStart,
        SessionEnd,
        Pause,
        Resume,
        End,
        Heartbeat,
        HandRaise,
        ChatMessage,
    )
}

Message = SessionEvent | PresenterChallenge | PresenterResponse

_AuthParser = Callable[[_Fields], PresenterChallenge | PresenterResponse]
_AUTH: dict[str, _AuthParser] = {
    # An empty or over-long nonce is answered by nobody (Pathfinder ignores it too).
    "presenter_challenge": lambda f: PresenterChallenge(
        f.text("nonce", limit=128), f.optional_text("proof", limit=32)
    ),
    "presenter_response": lambda f: PresenterResponse(
        f.text("nonce", limit=128),
        f.text("signature", limit=256),
        f.optional_text("proof", limit=32),
    ),
}


def parse_message(data: Any, limits: EventLimits = DEFAULT_LIMITS) -> Message:
    """Parse one decoded data-channel message into its typed form, or raise ProtocolError."""
    if not isinstance(data, Mapping):
        raise ProtocolError("a session message must be an object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("session message without a string 'type'")
    fields = _Fields(data, kind[:40], limits)
    if kind in _AUTH:
        return _AUTH[kind](fields)
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise ProtocolError(f"unknown session event type {kind[:40]!r}")
    base: dict[str, Any] = {
        "sessionId": fields.text("sessionId", default="", limit=200),
        "timestamp": fields.integer("timestamp", default=0, low=0, high=MAX_EPOCH_MS),
        "senderId": fields.text("senderId", default="", limit=200),
        "seq": fields.optional_integer("seq", low=0),
    }
    return cls(**base, **cls.parse_body(fields))


def guide_url(event: SessionEvent) -> str:
    """The guide an event tells attendees to show ('' for events that name none)."""
    if isinstance(event, SessionStart):
        return event.config.tutorialUrl
    if isinstance(event, Navigation | SyncState):
        return event.tutorialUrl
    return ""


def parse_event(data: Any, limits: EventLimits = DEFAULT_LIMITS) -> SessionEvent:
    message = parse_message(data, limits)
    if not isinstance(message, SessionEvent):
        raise ProtocolError(f"{message.TYPE} is not a session event")
    return message
