"""The shape a relayed payload may have: what PeerJS puts in OFFER, ANSWER and CANDIDATE.

PeerJS 1.5 sends small objects of strings, numbers, booleans and null:
`{sdp: {type, sdp}, type, connectionId, label, reliable, serialization, metadata?}` and
`{candidate: {candidate, sdpMid, sdpMLineIndex, usernameFragment}, type, connectionId}`.
Anything much bigger in structure is refused before it is relayed or queued: parsed, a
frame of `[[],[],...]` takes about 22 times its size, and nothing needs it. Sans-I/O.
"""

from __future__ import annotations

import math
from typing import Any

from bridge.errors import ProtocolError

#: Objects and arrays in a whole frame, envelope included (PeerJS uses 3 or 4).
MAX_CONTAINERS = 32
#: Nesting of the payload: payload > sdp, candidate or metadata > two more for metadata.
MAX_DEPTH = 4
#: Keys of one object, and values (containers included) in a whole payload.
MAX_KEYS = 32
MAX_VALUES = 128
MAX_KEY_LENGTH = 64


def check_frame_structure(text: str) -> None:
    """Refuse a frame with too many containers before it is parsed (and allocated).

    Brackets inside strings count too, so this over-counts: an SDP has none, and the
    bound leaves room for a few in metadata.
    """
    if text.count("{") + text.count("[") > MAX_CONTAINERS:
        raise ProtocolError(f"more than {MAX_CONTAINERS} objects or arrays in one message")


def check_payload(payload: Any) -> None:
    """Raise ProtocolError unless `payload` is None or a small PeerJS-shaped object."""
    if payload is None:
        return
    if not isinstance(payload, dict):
        raise ProtocolError("'payload' must be an object")
    values = 0
    # (value, depth) pairs; iterative so a deep value cannot exhaust the stack.
    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        values += 1
        if values > MAX_VALUES:
            raise ProtocolError(f"a payload holds at most {MAX_VALUES} values")
        if value is None or isinstance(value, bool | str | int):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ProtocolError("numbers in a payload must be finite")
            continue
        if depth > MAX_DEPTH:
            raise ProtocolError(f"a payload nests at most {MAX_DEPTH} levels")
        if isinstance(value, dict):
            if len(value) > MAX_KEYS:
                raise ProtocolError(f"an object in a payload has at most {MAX_KEYS} keys")
            for key, item in value.items():
                if len(key) > MAX_KEY_LENGTH:
                    raise ProtocolError(f"payload keys are at most {MAX_KEY_LENGTH} characters")
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            if len(value) > MAX_VALUES:
                raise ProtocolError(f"a payload holds at most {MAX_VALUES} values")
            pending.extend((item, depth + 1) for item in value)
        else:  # pragma: no cover - json.loads makes nothing else
            raise ProtocolError(f"unexpected {type(value).__name__} in a payload")
