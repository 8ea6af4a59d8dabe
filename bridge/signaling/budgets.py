"""What sockets make the signaling server hold, budgeted across all of them (sans-I/O).

A socket that never reads keeps what we wrote for it in our write buffer (up to
`max_unsent_bytes`), and picows keeps each socket's read buffer at the size of the largest
frame it read, for good. Per socket that is bounded; a review multiplied it by a thousand
sockets (329 MiB). `SocketBudget` bounds the sum: the I/O layer asks `fits()` before a socket
may hold more, records what it holds with `hold()` and forgets it with `drop()`.

A total alone is first come, first served: a second review filled the 16 MiB of read
buffers from two /24s (227 sockets that each once sent a 64 KiB frame, then only
heartbeats), after which every frame over ~2 KB, an aiortc OFFER among them, closed its
socket. So one address range (`ranges.py`) may hold at most `1 / RANGE_SHARE` of a budget,
and `make_room()` says which sockets to close when it is full: the largest, idlest holders,
never one that holds less than what is asked for. `ReaderProgress` finds sockets that are
behind and read nothing for a while, so that the unsent budget is not held for good either.
"""

from __future__ import annotations

from dataclasses import dataclass

#: picows's first read buffer for READ_BUFFER = 2048 (its size: capacity less 256 bytes).
PICOWS_FIRST_READ_BUFFER = 2304
#: A frame's header, at most.
FRAME_HEADER = 14
#: One address range may hold at most this fraction (1 / RANGE_SHARE) of a budget: it takes
#: four networks, not one or two, to fill it.
RANGE_SHARE = 4


def read_buffer_for(frame_bytes: int, first: int = PICOWS_FIRST_READ_BUFFER) -> int:
    """The read buffer picows grows to while it reads a frame of `frame_bytes`: it doubles
    whenever a read leaves it over 90 % full."""
    size = first
    while (frame_bytes + FRAME_HEADER) * 10 > size * 9:
        size *= 2
    return size


@dataclass(slots=True)
class Holding:
    size: int
    range: str
    #: When the socket last needed what it holds (its idleness decides who goes first).
    used: float


class SocketBudget:
    """Bytes held for sockets, per socket, against one limit for all of them together and
    a share of it for each address range."""

    def __init__(self, limit: int, *, share: int = RANGE_SHARE) -> None:
        self.limit = limit
        self.range_limit = limit // share
        self.total = 0
        self._held: dict[int, Holding] = {}
        self._per_range: dict[str, int] = {}

    def held(self, conn: int) -> int:
        holding = self._held.get(conn)
        return holding.size if holding is not None else 0

    def held_by_range(self, range: str) -> int:
        return self._per_range.get(range, 0)

    def fits(self, conn: int, range: str, size: int) -> bool:
        """Whether `conn`, of `range`, may hold `size` bytes (instead of what it holds now)."""
        own = self.held(conn)
        return (
            self.total - own + size <= self.limit
            and self.held_by_range(range) - own + size <= self.range_limit
        )

    def hold(self, conn: int, range: str, size: int, now: float = 0.0) -> None:
        """`conn` of `range` holds `size` bytes now (0 forgets it)."""
        self.drop(conn)
        if size <= 0:
            return
        self._held[conn] = Holding(size, range, now)
        self.total += size
        self._per_range[range] = self.held_by_range(range) + size

    def touch(self, conn: int, now: float) -> None:
        """`conn` used what it holds at `now`."""
        holding = self._held.get(conn)
        if holding is not None:
            holding.used = now

    def drop(self, conn: int) -> None:
        holding = self._held.pop(conn, None)
        if holding is None:
            return
        self.total -= holding.size
        left = self._per_range[holding.range] - holding.size
        if left > 0:
            self._per_range[holding.range] = left
        else:
            del self._per_range[holding.range]

    def conns(self) -> list[int]:
        return list(self._held)

    def make_room(self, conn: int, range: str, size: int) -> list[int] | None:
        """Sockets to close so that `conn` of `range` may hold `size`: the largest holders
        first, the idlest among equals, each holding at least `size` (a socket that holds
        little never pays for one that asks for much). Where `range` is over its share, only
        its own sockets go. None when no such choice makes room (`conn` is refused)."""
        own = self.held(conn)
        over_total = self.total - own + size - self.limit
        over_range = self.held_by_range(range) - own + size - self.range_limit
        candidates = sorted(
            (
                (holding.size, holding.used, other, holding.range)
                for other, holding in self._held.items()
                if other != conn and holding.size >= size
            ),
            key=lambda c: (-c[0], c[1]),
        )
        chosen: list[int] = []
        for held, _used, other, other_range in candidates:
            if over_total <= 0 and over_range <= 0:
                break
            if over_range > 0 and other_range != range:
                continue  # the range's own excess is its own to pay
            chosen.append(other)
            over_total -= held
            if other_range == range:
                over_range -= held
        return chosen if over_total <= 0 and over_range <= 0 else None


class ReaderProgress:
    """Which sockets that are behind read nothing: per socket, the bytes it has taken from
    us so far (what we wrote less what is still unsent) and since when that has not grown.
    Measured as bytes taken, not as what is unsent: a reader that keeps up with a flood
    stays as far behind as the flood keeps it, yet it takes bytes all the time."""

    def __init__(self) -> None:
        self._taken: dict[int, tuple[int, float]] = {}

    def behind(self, conn: int, taken: int, now: float) -> None:
        """`conn` is behind and has taken `taken` bytes in all at `now`."""
        last = self._taken.get(conn)
        if last is None or taken > last[0]:
            self._taken[conn] = (taken, now)

    def caught_up(self, conn: int) -> None:
        self._taken.pop(conn, None)

    def stalled(self, now: float, timeout: float) -> list[int]:
        """Sockets behind that have taken nothing for `timeout` seconds."""
        return [conn for conn, (_, since) in self._taken.items() if now - since >= timeout]
