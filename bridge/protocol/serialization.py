"""What travels on a PeerJS data channel: the per-connection codec for each serialization.

Sans-I/O: values in, frames out (`encode`), frames in, values out (`decode`). PeerJS's
`binary` (also `default`, `binary-utf8`) is BinaryPack with chunking; `json` is UTF-8 JSON
sent as *binary* frames; `raw` passes bytes and text through. PeerJS closes a connection
politely with `{__peerData: {type: "close"}}`, which `decode` reports as CLOSE.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Final

from bridge.errors import ProtocolError
from bridge.protocol import binarypack


class Serialization(enum.StrEnum):
    BINARY = "binary"
    DEFAULT = "default"
    BINARY_UTF8 = "binary-utf8"
    JSON = "json"
    RAW = "raw"

    @property
    def is_binarypack(self) -> bool:
        return self in (Serialization.BINARY, Serialization.DEFAULT, Serialization.BINARY_UTF8)

    @classmethod
    def parse(cls, value: object) -> Serialization:
        try:
            return cls(str(value) if value is not None else "default")
        except ValueError:
            raise ProtocolError(f"unsupported serialization {str(value)[:20]!r}") from None


class _Close:
    def __repr__(self) -> str:
        return "CLOSE"


#: `decode` returns this when the remote side closes the connection politely.
CLOSE: Final = _Close()
#: `decode` returns this while a chunked message is still incomplete.
PARTIAL: Final = object()

CLOSE_MESSAGE = {"__peerData": {"type": "close"}}


@dataclass
class ConnectionCodec:
    """Encoder and decoder of one connection. The limits bound what the remote side can make
    us allocate: a whole message's bytes (chunks joined), and for BinaryPack its nesting depth
    and element count (JSON is checked the same way after parsing)."""

    serialization: Serialization = Serialization.BINARY
    max_message_bytes: int = 4 * 2**20
    max_depth: int = binarypack.MAX_DEPTH
    max_items: int = binarypack.MAX_ITEMS
    #: Chunked messages that may be in flight at once, and how long one waits for the rest.
    max_partial_messages: int = 8
    partial_stale_after: float = 30.0
    #: Bytes of chunked messages in flight, shared with other connections (None: no budget).
    partial_budget: binarypack.PartialBudget | None = None
    #: Whether the channel delivers in order (PeerJS's reliable channels do).
    ordered: bool = True
    _next_chunk_id: int = 1
    _reassembler: binarypack.Reassembler = field(default_factory=binarypack.Reassembler)

    def __post_init__(self) -> None:
        self._reassembler.max_message_bytes = self.max_message_bytes
        self._reassembler.max_partial_messages = self.max_partial_messages
        self._reassembler.stale_after = self.partial_stale_after
        self._reassembler.budget = self.partial_budget
        self._reassembler.ordered = self.ordered

    def encode(self, value: Any) -> list[bytes | str]:
        """Frames to send for one message, in order."""
        if self.serialization.is_binarypack:
            packed = binarypack.pack(value)
            if len(packed) <= binarypack.CHUNK_MTU:
                return [packed]
            chunk_id, self._next_chunk_id = self._next_chunk_id, self._next_chunk_id + 1
            return list(binarypack.chunk(packed, chunk_id))
        if self.serialization is Serialization.JSON:
            encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
            if len(encoded) >= binarypack.CHUNK_MTU:
                raise ValueError("message too big for a json connection (PeerJS refuses it too)")
            return [encoded]
        if isinstance(value, bytes | str):
            return [value]
        raise TypeError("a raw connection carries bytes or str")

    def encode_close(self) -> list[bytes | str]:
        return self.encode(CLOSE_MESSAGE)

    def prune(self, now: float) -> None:
        """Drop chunked messages that waited too long for their other chunks."""
        self._reassembler.prune(now)

    def clear(self) -> None:
        """Drop every chunked message in flight (the connection closed)."""
        self._reassembler.clear()

    def decode(self, frame: bytes | str, now: float) -> Any:
        """One frame in: the message, PARTIAL while chunks are missing, or CLOSE."""
        if len(frame) > self.max_message_bytes:
            raise ProtocolError("data channel frame exceeds the size limit")
        if self.serialization is Serialization.RAW:
            return frame
        if self.serialization is Serialization.JSON:
            try:
                value = json.loads(frame)
            except (ValueError, RecursionError):
                raise ProtocolError("malformed JSON on a json connection") from None
            _check_shape(value, self.max_depth, self.max_items)
            return CLOSE if _is_close(value) else value
        if isinstance(frame, str):
            raise ProtocolError("text frame on a binary connection")
        value = binarypack.unpack(frame, max_depth=self.max_depth, max_items=self.max_items)
        if not (isinstance(value, dict) and value.get("__peerData")):
            return value
        if _is_close(value):
            return CLOSE
        whole = self._reassembler.feed(value, now)
        if whole is None:
            return PARTIAL
        return self.decode(whole, now)


def _check_shape(value: Any, max_depth: int, max_items: int) -> None:
    """The BinaryPack limits, for a value that JSON has already parsed."""
    items = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if depth > max_depth:
            raise ProtocolError("JSON message nested too deeply")
        children = (
            list(current.values())
            if isinstance(current, dict)
            else current
            if isinstance(current, list)
            else ()
        )
        items += len(children)
        if items > max_items:
            raise ProtocolError(f"JSON message holds more than {max_items} elements")
        stack.extend((child, depth + 1) for child in children)


def _is_close(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    marker = value.get("__peerData")
    return isinstance(marker, dict) and marker.get("type") == "close"
