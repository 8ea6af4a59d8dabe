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

#: Objects and arrays in a frame over UNCOUNTED_FRAME_BYTES, envelope included (PeerJS: 3-4).
MAX_CONTAINERS = 32
#: Frames up to this size are not counted before parsing: at worst they parse into ~100 KB
#: for a moment, and `check_payload` refuses them after. (Most OFFERs and every CANDIDATE.)
UNCOUNTED_FRAME_BYTES = 4096
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
    if len(text) <= UNCOUNTED_FRAME_BYTES:
        return
    if text.count("{") + text.count("[") > MAX_CONTAINERS:
        raise ProtocolError(f"more than {MAX_CONTAINERS} objects or arrays in one message")


def check_payload(payload: Any) -> None:
    """Raise ProtocolError unless `payload` is None or a small PeerJS-shaped object."""
    if payload is None:
        return
    if type(payload) is not dict:
        raise ProtocolError("'payload' must be an object")
    _check_container(payload, 1, MAX_VALUES - 1)


def _check_container(container: dict[str, Any] | list[Any], depth: int, budget: int) -> int:
    """Check one object or array at `depth`; return what is left of the value budget.

    On the relay path: exact type tests (json.loads makes nothing else) and no allocation.
    Recursion is bounded by MAX_DEPTH.
    """
    budget -= len(container)
    if budget < 0:
        raise ProtocolError(f"a payload holds at most {MAX_VALUES} values")
    if type(container) is dict:
        if len(container) > MAX_KEYS:
            raise ProtocolError(f"an object in a payload has at most {MAX_KEYS} keys")
        if container and max(map(len, container)) > MAX_KEY_LENGTH:
            raise ProtocolError(f"payload keys are at most {MAX_KEY_LENGTH} characters")
        values: Any = container.values()
    else:
        values = container
    for value in values:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            continue
        if kind is float:
            if not math.isfinite(value):
                raise ProtocolError("numbers in a payload must be finite")
        elif kind is dict or kind is list:
            if depth >= MAX_DEPTH:
                raise ProtocolError(f"a payload nests at most {MAX_DEPTH} levels")
            budget = _check_container(value, depth + 1, budget)
        else:  # pragma: no cover - json.loads makes nothing else
            raise ProtocolError(f"unexpected {kind.__name__} in a payload")
    return budget
