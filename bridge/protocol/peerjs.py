"""PeerJS signaling messages, as the npm `peer` 1.0.x server and `peerjs` 1.5.x client send them.

Sans-I/O: JSON text in, frozen dataclasses out, and back. Both directions live here
because our server and our Python peers speak the same messages.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Any

from orjson import loads  # a PeerJS OFFER in a third of json's time: the relay's largest cost

from bridge.errors import ProtocolError


class MessageType(enum.StrEnum):
    OPEN = "OPEN"
    LEAVE = "LEAVE"
    CANDIDATE = "CANDIDATE"
    OFFER = "OFFER"
    ANSWER = "ANSWER"
    EXPIRE = "EXPIRE"
    HEARTBEAT = "HEARTBEAT"
    ID_TAKEN = "ID-TAKEN"
    ERROR = "ERROR"


#: Types a client may send that the server relays to `dst`.
RELAYED_TYPES = frozenset(
    {
        MessageType.OFFER,
        MessageType.ANSWER,
        MessageType.CANDIDATE,
        MessageType.LEAVE,
        MessageType.EXPIRE,
    }
)
#: Types that are never queued for an absent destination.
UNQUEUED_TYPES = frozenset({MessageType.LEAVE, MessageType.EXPIRE})
#: Every type a client may send.
CLIENT_TYPES = RELAYED_TYPES | {MessageType.HEARTBEAT}
_MESSAGE_TYPES = {kind.value: kind for kind in MessageType}
_NEEDS_DST_AND_PAYLOAD = frozenset({MessageType.OFFER, MessageType.ANSWER, MessageType.CANDIDATE})
#: Keys of a client message the server relays; a frame with only these can go out as it came.
_RELAYED_KEYS = frozenset({"type", "dst", "payload"})


class ErrorText(enum.StrEnum):
    """ERROR payload texts; the first four are `peer`'s own, word for word."""

    INVALID_WS_PARAMETERS = "No id, token, or key supplied to websocket server"
    INVALID_KEY = "Invalid key provided"
    INVALID_TOKEN = "Invalid token provided"
    CONNECTION_LIMIT_EXCEED = "Server has reached its concurrent user limit"
    INVALID_ID = "Invalid id provided"
    IP_LIMIT_EXCEED = "Too many connections from this address"
    REGISTRATION_RATE = "Too many new connections from this address, try again shortly"
    ORIGIN_NOT_ALLOWED = "Origin not allowed"
    FRAME_TOO_LARGE = "Message too large"
    READ_BUFFERS_FULL = "Server busy, message too large for now"
    BINARY_FRAME = "Binary messages are not supported"
    RATE_LIMITED = "Rate limit exceeded, message dropped"
    QUEUE_BUDGET = "Too much waiting for absent peers from you, message dropped"
    CLUSTER_UNAVAILABLE = "Signaling cluster unavailable, try again shortly"


ID_TAKEN_TEXT = "ID is taken"

#: Refusals of a registration that hold for now, not for good: the server's pace of new
#: registrations, its room (per address range or in all), its momentary load. A client waits
#: and tries again; any other refusal (a bad key, id or token, a foreign origin) is final.
RETRYABLE_REFUSALS = frozenset(
    {
        ErrorText.REGISTRATION_RATE,
        ErrorText.IP_LIMIT_EXCEED,
        ErrorText.CONNECTION_LIMIT_EXCEED,
        ErrorText.READ_BUFFERS_FULL,
        ErrorText.CLUSTER_UNAVAILABLE,
    }
)


def is_retryable_refusal(text: str) -> bool:
    """Whether an ERROR that refused our registration says to come back later (ours, word
    for word, or any server's "try again")."""
    return text in RETRYABLE_REFUSALS or "try again" in text.lower()


_ID_PATTERN = re.compile(r"[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*")
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


def is_valid_id(value: str, max_length: int = 64) -> bool:
    """PeerJS's own id rule (`util.validateId`), plus a length bound."""
    return 0 < len(value) <= max_length and _ID_PATTERN.fullmatch(value) is not None


def is_valid_token(value: str, max_length: int = 64) -> bool:
    return 0 < len(value) <= max_length and _TOKEN_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True)
class ClientMessage:
    """A message a client sends to the server: `{type, dst?, payload?}`."""

    type: MessageType
    dst: str | None = None
    payload: Any = None
    #: The frame as received, when it holds nothing but type, dst and payload: the relayed
    #: form is then this text with `src` put in front, not a re-serialization.
    text: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, *, max_id_length: int = 64) -> ClientMessage:
        """Parse one text frame; raise ProtocolError with a reason for anything else."""
        try:
            data = loads(text)
        except (ValueError, RecursionError):
            raise ProtocolError("malformed JSON") from None
        if type(data) is not dict:
            raise ProtocolError("a message must be a JSON object")
        raw_type = data.get("type")
        if type(raw_type) is not str:
            raise ProtocolError("missing or non-string 'type'")
        kind = _MESSAGE_TYPES.get(raw_type)
        if kind is None:
            raise ProtocolError(f"unknown message type {raw_type[:32]!r}")
        if kind not in CLIENT_TYPES:
            raise ProtocolError(f"clients may not send {kind}")
        dst = data.get("dst")
        if dst is not None:
            if type(dst) is not str:
                raise ProtocolError("'dst' must be a string")
            if not is_valid_id(dst, max_id_length):
                raise ProtocolError("'dst' is not a valid peer id")
        payload = data.get("payload")
        if kind in _NEEDS_DST_AND_PAYLOAD:
            if dst is None:
                raise ProtocolError(f"{kind} needs a 'dst'")
            if type(payload) is not dict:
                raise ProtocolError(f"{kind} needs an object 'payload'")
        relayable = text[:1] == "{" and data.keys() <= _RELAYED_KEYS
        return cls(kind, dst, payload, text if relayable else None)

    def serialize(self) -> str:
        data: dict[str, Any] = {"type": str(self.type)}
        if self.payload is not None:
            data["payload"] = self.payload
        if self.dst is not None:
            data["dst"] = self.dst
        return json.dumps(data, separators=(",", ":"))

    def __str__(self) -> str:
        return f"{self.type}->{self.dst}" if self.dst else str(self.type)


@dataclass(frozen=True)
class ServerMessage:
    """A message the server sends: its own (OPEN, ERROR, ...) or a relayed one with `src`."""

    type: MessageType
    src: str | None = None
    dst: str | None = None
    payload: Any = None

    def serialize(self) -> str:
        # Key order and omission of absent keys follow `peer`'s JSON.stringify.
        data: dict[str, Any] = {"type": str(self.type)}
        if self.src is not None:
            data["src"] = self.src
        if self.dst is not None:
            data["dst"] = self.dst
        if self.payload is not None:
            data["payload"] = self.payload
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> ServerMessage:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise ProtocolError("malformed JSON from the signaling server") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ProtocolError("signaling message without a type")
        try:
            kind = MessageType(data["type"])
        except ValueError:
            raise ProtocolError(f"unknown signaling message type {data['type'][:32]!r}") from None
        src, dst = data.get("src"), data.get("dst")
        if (src is not None and not isinstance(src, str)) or (
            dst is not None and not isinstance(dst, str)
        ):
            raise ProtocolError("'src' and 'dst' must be strings")
        return cls(kind, src, dst, data.get("payload"))

    @property
    def error_text(self) -> str:
        """The `msg` of an ERROR or ID-TAKEN payload, or ''."""
        if isinstance(self.payload, dict) and isinstance(self.payload.get("msg"), str):
            return str(self.payload["msg"])
        return ""

    def __str__(self) -> str:
        text = str(self.type)
        if self.src or self.dst:
            text += f" {self.src}->{self.dst}"
        if self.error_text:
            text += f" ({self.error_text})"
        return text


def open_message() -> ServerMessage:
    return ServerMessage(MessageType.OPEN)


def id_taken_message() -> ServerMessage:
    return ServerMessage(MessageType.ID_TAKEN, payload={"msg": ID_TAKEN_TEXT})


def error_message(text: str) -> ServerMessage:
    return ServerMessage(MessageType.ERROR, payload={"msg": text})


def relayed(message: ClientMessage, src: str) -> ServerMessage:
    """The relayed form: `peer` keeps exactly type, src, dst and payload."""
    return ServerMessage(message.type, src, message.dst, message.payload)


def relayed_frame(message: ClientMessage, src: str) -> str | None:
    """The relayed form as text without serializing the payload again, or None when the
    frame holds other keys (a forged `src` among them) and must be rebuilt.

    `src` goes first; the rest is the client's own text, whose keys are type, dst and
    payload only. A JSON reader that meets a key twice keeps the last one, as ours did when
    it checked the frame, so the receiver reads what was checked. `src` is a valid peer id
    (letters, digits, space, `_`, `-`): it needs no escaping.
    """
    if message.text is None:
        return None
    return '{"src":"' + src + '",' + message.text[1:]
