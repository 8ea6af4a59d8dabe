"""Give freed memory back to the OS some seconds after peer connections close.

Measured here: every closed aiortc connection leaves about 150 KB that glibc keeps in its arenas
(RSS climbs with each reconnect although nothing leaks: malloc_trim(0) returns all of it). So a
closed connection is noted, and the owners' timers trim the heap once it has had time to be freed.
A no-op where the C library has no malloc_trim.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable

#: Seconds after the last close before trimming: aiortc finishes its own teardown meanwhile.
SETTLE = 3.0
#: Under a stream of closes, trim at least this often anyway.
LONGEST_WAIT = 30.0


def load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    function: Callable[[int], int] = trim
    return function


class HeapTrimmer:
    """When to trim: once the last close has settled, and now and then under a stream of them.

    The times are monotonic seconds passed in by the caller (tests pass their own).
    """

    def __init__(
        self,
        trim: Callable[[int], int] | None,
        *,
        settle: float = SETTLE,
        longest_wait: float = LONGEST_WAIT,
    ) -> None:
        self._trim = trim
        self.settle = settle
        self.longest_wait = longest_wait
        self._closed_at: float | None = None
        self._first_pending: float | None = None
        self.trims = 0

    def note_closed(self, now: float | None = None) -> None:
        """A peer connection closed: its memory will be free soon."""
        self._closed_at = time.monotonic() if now is None else now
        if self._first_pending is None:
            self._first_pending = self._closed_at

    def release_if_due(self, now: float | None = None) -> bool:
        """Trim once the last close has settled; True when it trimmed."""
        if self._closed_at is None or self._first_pending is None:
            return False
        moment = time.monotonic() if now is None else now
        if moment - self._closed_at < self.settle and moment - self._first_pending < (
            self.longest_wait
        ):
            return False
        self._closed_at = self._first_pending = None
        if self._trim is None:
            return False
        gc.collect()  # aiortc's objects sit in reference cycles
        self._trim(0)
        self.trims += 1
        return True


#: The process's heap is one: every peer and session notes its closes here.
heap = HeapTrimmer(load_malloc_trim())
