"""What sockets make the signaling server hold, budgeted across all of them (sans-I/O).

A socket that never reads keeps what we wrote for it in our write buffer (up to
`max_unsent_bytes`), and picows keeps each socket's read buffer at the size of the largest
frame it read, for good. Per socket that is bounded; a review multiplied it by a thousand
sockets (329 MiB). `SocketBudget` bounds the sum: the I/O layer asks `fits()` before a socket
may hold more, records what it holds with `hold()` and forgets it with `drop()`.
"""

from __future__ import annotations

#: picows's first read buffer for READ_BUFFER = 2048 (its size: capacity less 256 bytes).
PICOWS_FIRST_READ_BUFFER = 2304
#: A frame's header, at most.
FRAME_HEADER = 14


def read_buffer_for(frame_bytes: int, first: int = PICOWS_FIRST_READ_BUFFER) -> int:
    """The read buffer picows grows to while it reads a frame of `frame_bytes`: it doubles
    whenever a read leaves it over 90 % full."""
    size = first
    while (frame_bytes + FRAME_HEADER) * 10 > size * 9:
        size *= 2
    return size


class SocketBudget:
    """Bytes held for sockets, per socket, against one limit for all of them together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._held: dict[int, int] = {}

    def held(self, conn: int) -> int:
        return self._held.get(conn, 0)

    def fits(self, conn: int, size: int) -> bool:
        """Whether `conn` may hold `size` bytes (instead of what it holds now)."""
        return self.total - self.held(conn) + size <= self.limit

    def hold(self, conn: int, size: int) -> None:
        """`conn` holds `size` bytes now (0 forgets it)."""
        self.total += size - self._held.pop(conn, 0)
        if size > 0:
            self._held[conn] = size

    def drop(self, conn: int) -> None:
        self.hold(conn, 0)

    def conns(self) -> list[int]:
        return list(self._held)
