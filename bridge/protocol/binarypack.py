"""BinaryPack, the default serialization of PeerJS data connections, and its chunking.

Byte layouts follow peerjs-js-binarypack 2.x as bundled in peerjs 1.5.x: MessagePack-like,
but strings (0xb0/0xd8/0xd9) and raw bytes (0xa0/0xda/0xdb) have their own tags, JavaScript
`undefined` packs as nil, and integral numbers always pack as integers. Messages over
16,300 bytes travel as chunks `{__peerData: id, n, data, total}` that the receiver joins.

Decoding is bounded before anything is allocated: nesting depth, and the number of elements
(array items and map entries) in the whole message, so a small message of empty arrays cannot
turn into hundreds of megabytes of Python lists.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ProtocolError

CHUNK_MTU = 16300
MAX_DEPTH = 64
#: Elements (array items plus map entries) one decoded message may hold, by default.
MAX_ITEMS = 65536


def pack(value: Any) -> bytes:
    """Encode a JSON-like value (None, bool, int, float, str, bytes, list, dict) as BinaryPack."""
    out = bytearray()
    _pack(value, out, 0)
    return bytes(out)


def _pack(value: Any, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply for BinaryPack")
    if value is None:
        out.append(0xC0)
    elif value is True:
        out.append(0xC3)
    elif value is False:
        out.append(0xC2)
    elif isinstance(value, int):
        _pack_integer(value, out)
    elif isinstance(value, float):
        # JavaScript has one number type: an integral double packs as an integer.
        if math.isfinite(value) and value == math.floor(value) and abs(value) < 2**63:
            _pack_integer(int(value), out)
        else:
            out.append(0xCB)
            out += struct.pack(">d", value)
    elif isinstance(value, str):
        _pack_sized(value.encode("utf-8"), out, 0xB0, 0xD8, 0xD9)
    elif isinstance(value, bytes | bytearray | memoryview):
        _pack_sized(bytes(value), out, 0xA0, 0xDA, 0xDB)
    elif isinstance(value, Mapping):
        _pack_length(len(value), out, 0x80, 0xDE, 0xDF)
        for key, item in value.items():
            _pack(str(key), out, depth + 1)
            _pack(item, out, depth + 1)
    elif isinstance(value, Sequence):
        _pack_length(len(value), out, 0x90, 0xDC, 0xDD)
        for item in value:
            _pack(item, out, depth + 1)
    else:
        raise TypeError(f"BinaryPack cannot encode {type(value).__name__}")


def _pack_length(length: int, out: bytearray, fix: int, tag16: int, tag32: int) -> None:
    if length <= 0x0F:
        out.append(fix + length)
    elif length <= 0xFFFF:
        out.append(tag16)
        out += struct.pack(">H", length)
    elif length <= 0xFFFFFFFF:
        out.append(tag32)
        out += struct.pack(">I", length)
    else:
        raise ValueError("BinaryPack length out of range")


def _pack_sized(data: bytes, out: bytearray, fix: int, tag16: int, tag32: int) -> None:
    _pack_length(len(data), out, fix, tag16, tag32)
    out += data


def _pack_integer(num: int, out: bytearray) -> None:
    # The same ladder as the JavaScript packer, so the bytes are identical.
    if -32 <= num <= 0x7F:
        out.append(num & 0xFF)
    elif 0 <= num <= 0xFF:
        out += b"\xcc" + struct.pack(">B", num)
    elif -128 <= num <= 0x7F:
        out += b"\xd0" + struct.pack(">b", num)
    elif 0 <= num <= 0xFFFF:
        out += b"\xcd" + struct.pack(">H", num)
    elif -32768 <= num <= 0x7FFF:
        out += b"\xd1" + struct.pack(">h", num)
    elif 0 <= num <= 0xFFFFFFFF:
        out += b"\xce" + struct.pack(">I", num)
    elif -(2**31) <= num <= 2**31 - 1:
        out += b"\xd2" + struct.pack(">i", num)
    elif -(2**63) <= num <= 2**63 - 1:
        out += b"\xd3" + struct.pack(">q", num)
    elif 0 <= num <= 2**64 - 1:
        out += b"\xcf" + struct.pack(">Q", num)
    else:
        raise ValueError("integer out of BinaryPack range")


_FIXED = {
    0xCA: (">f", 4),
    0xCB: (">d", 8),
    0xCC: (">B", 1),
    0xCD: (">H", 2),
    0xCE: (">I", 4),
    0xCF: (">Q", 8),
    0xD0: (">b", 1),
    0xD1: (">h", 2),
    0xD2: (">i", 4),
    0xD3: (">q", 8),
}


class _Reader:
    __slots__ = ("data", "index", "items_left", "max_depth", "max_items")

    def __init__(self, data: bytes, max_depth: int, max_items: int) -> None:
        self.data = data
        self.index = 0
        self.max_depth = max_depth
        self.max_items = max_items
        self.items_left = max_items

    def spend(self, count: int) -> None:
        """Account for `count` more elements before the container that holds them is built."""
        if count > self.items_left:
            raise ProtocolError(f"BinaryPack message holds more than {self.max_items} elements")
        self.items_left -= count

    def take(self, count: int) -> bytes:
        end = self.index + count
        if end > len(self.data):
            raise ProtocolError("BinaryPack data ends early")
        chunk = self.data[self.index : end]
        self.index = end
        return chunk

    def length(self, fmt: str, size: int) -> int:
        value = struct.unpack(fmt, self.take(size))[0]
        assert isinstance(value, int)
        return value

    def remaining(self) -> int:
        return len(self.data) - self.index


def unpack(data: bytes, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> Any:
    """Decode one BinaryPack value; raise ProtocolError for anything malformed or trailing,
    nested deeper than `max_depth` or holding more than `max_items` elements."""
    reader = _Reader(bytes(data), max_depth, max_items)
    value = _unpack(reader, 0)
    if reader.remaining():
        raise ProtocolError("trailing bytes after BinaryPack value")
    return value


def _unpack(reader: _Reader, depth: int) -> Any:
    if depth > reader.max_depth:
        raise ProtocolError("BinaryPack value nested too deeply")
    tag = reader.take(1)[0]
    if tag < 0x80:
        return tag
    if tag >= 0xE0:
        return tag - 0x100
    if 0xA0 <= tag <= 0xAF:
        return reader.take(tag - 0xA0)
    if 0xB0 <= tag <= 0xBF:
        return _decode_text(reader.take(tag - 0xB0))
    if 0x90 <= tag <= 0x9F:
        return _unpack_array(reader, tag - 0x90, depth)
    if 0x80 <= tag <= 0x8F:
        return _unpack_map(reader, tag - 0x80, depth)
    if tag in (0xC0, 0xC1):
        return None
    if tag == 0xC2:
        return False
    if tag == 0xC3:
        return True
    if tag in _FIXED:
        fmt, size = _FIXED[tag]
        return struct.unpack(fmt, reader.take(size))[0]
    if tag == 0xD8:
        return _decode_text(reader.take(reader.length(">H", 2)))
    if tag == 0xD9:
        return _decode_text(reader.take(reader.length(">I", 4)))
    if tag == 0xDA:
        return reader.take(reader.length(">H", 2))
    if tag == 0xDB:
        return reader.take(reader.length(">I", 4))
    if tag == 0xDC:
        return _unpack_array(reader, reader.length(">H", 2), depth)
    if tag == 0xDD:
        return _unpack_array(reader, reader.length(">I", 4), depth)
    if tag == 0xDE:
        return _unpack_map(reader, reader.length(">H", 2), depth)
    if tag == 0xDF:
        return _unpack_map(reader, reader.length(">I", 4), depth)
    raise ProtocolError(f"unsupported BinaryPack tag 0x{tag:02x}")


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("BinaryPack string is not UTF-8") from None


def _unpack_array(reader: _Reader, size: int, depth: int) -> list[Any]:
    if size > reader.remaining():  # every item takes at least one byte
        raise ProtocolError("BinaryPack array longer than its data")
    reader.spend(size)
    return [_unpack(reader, depth + 1) for _ in range(size)]


def _unpack_map(reader: _Reader, size: int, depth: int) -> dict[str, Any]:
    if size * 2 > reader.remaining():
        raise ProtocolError("BinaryPack map longer than its data")
    reader.spend(size)
    result: dict[str, Any] = {}
    for _ in range(size):
        key = _unpack(reader, depth + 1)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise ProtocolError("BinaryPack map key must be a scalar")
        result[str(key) if not isinstance(key, str) else key] = _unpack(reader, depth + 1)
    return result


# -- chunking -------------------------------------------------------------------------


def chunk(packed: bytes, message_id: int, mtu: int = CHUNK_MTU) -> list[bytes]:
    """Split a packed message as PeerJS's Chunker does; each chunk is itself packed."""
    total = math.ceil(len(packed) / mtu)
    return [
        pack(
            {
                "__peerData": message_id,
                "n": index,
                "data": packed[start : start + mtu],
                "total": total,
            }
        )
        for index, start in enumerate(range(0, len(packed), mtu))
    ]


@dataclass
class _Partial:
    total: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


@dataclass
class PartialBudget:
    """Bytes of chunked messages not yet whole, for every connection that shares it (a
    process's): a peer that sends first chunks and never the rest holds only this much."""

    limit: int
    used: int = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used = max(0, self.used - size)


@dataclass
class Reassembler:
    """Joins chunks back into packed messages, with limits so a peer cannot exhaust memory:
    the size of a message, how many may be in flight at once, how long one may wait for its
    other chunks, and the bytes in flight of every connection sharing `budget`.

    On an `ordered` channel (PeerJS's are: reliable and ordered) a message's chunks come one
    after another, from n=0. So a message starts only at its first chunk (the rest of one whose
    chunk was refused is refused too, instead of starting a partial that can never be whole),
    and a new message replaces the oldest in flight (that one will never be whole either)."""

    max_message_bytes: int = 4 * 2**20
    max_partial_messages: int = 8
    stale_after: float = 30.0
    budget: PartialBudget | None = None
    ordered: bool = True
    _partials: dict[int, _Partial] = field(default_factory=dict)

    def feed(self, message: Mapping[str, Any], now: float) -> bytes | None:
        """Take one decoded chunk; return the whole packed message once all chunks are in."""
        self.prune(now)
        message_id, n, total, data = (
            message.get("__peerData"),
            message.get("n"),
            message.get("total"),
            message.get("data"),
        )
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise ProtocolError("chunk without an integer __peerData id")
        if not isinstance(total, int) or not isinstance(n, int) or not 0 <= n < total:
            raise ProtocolError("chunk with a bad index or total")
        if not isinstance(data, bytes):
            raise ProtocolError("chunk data must be binary")
        if len(data) > CHUNK_MTU:
            # PeerJS cuts chunks of CHUNK_MTU bytes; a larger one is no chunk of theirs.
            raise ProtocolError(f"chunk of {len(data)} bytes, over {CHUNK_MTU}")
        if total * CHUNK_MTU > self.max_message_bytes + CHUNK_MTU:
            raise ProtocolError(f"chunked message of {total} chunks exceeds the size limit")
        partial = self._partials.get(message_id)
        if partial is None:
            if self.ordered and n != 0:
                raise ProtocolError(f"chunk {n} of a message whose first chunk was not taken")
            if len(self._partials) >= self.max_partial_messages:
                if not self.ordered:
                    raise ProtocolError("too many chunked messages in flight")
                self._drop(next(iter(self._partials)))  # the oldest: it never will be whole
            partial = self._partials[message_id] = _Partial(total, now)
        if partial.total != total:
            self._drop(message_id)
            raise ProtocolError("chunks of one message disagree on the total")
        if n in partial.parts:
            return None  # a repeat changes nothing
        if partial.size + len(data) > self.max_message_bytes:
            self._drop(message_id)
            raise ProtocolError("chunked message exceeds the size limit")
        if self.budget is not None and not self.budget.take(len(data)):
            self._drop(message_id)
            raise ProtocolError("too many bytes of chunked messages in flight (all connections)")
        partial.parts[n] = data
        partial.size += len(data)
        if len(partial.parts) < total:
            return None
        self._drop(message_id)
        return b"".join(partial.parts[i] for i in range(total))

    def prune(self, now: float) -> int:
        """Drop partial messages older than `stale_after`; return how many were dropped. The
        owner of the connection calls it on its ticks too, so a partial goes even when no
        other chunk ever comes."""
        stale = [key for key, p in self._partials.items() if now - p.started > self.stale_after]
        for key in stale:
            self._drop(key)
        return len(stale)

    def clear(self) -> None:
        """Drop every partial message (the connection closed)."""
        for key in list(self._partials):
            self._drop(key)

    def _drop(self, message_id: int) -> None:
        partial = self._partials.pop(message_id, None)
        if partial is not None and self.budget is not None:
            self.budget.give(partial.size)

    @property
    def in_flight(self) -> int:
        return len(self._partials)
