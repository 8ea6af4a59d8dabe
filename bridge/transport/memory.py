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

_closed_at: float | None = None
_first_pending: float | None = None


def _load_trim() -> Callable[[int], int] | None:
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


_trim = _load_trim()


def note_closed(now: float | None = None) -> None:
    """A peer connection closed: its memory will be free soon."""
    global _closed_at, _first_pending
    _closed_at = time.monotonic() if now is None else now
    if _first_pending is None:
        _first_pending = _closed_at


def release_if_due(now: float | None = None) -> bool:
    """Trim once the last close has settled; True when it trimmed."""
    global _closed_at, _first_pending
    moment = time.monotonic() if now is None else now
    if _closed_at is None or _first_pending is None:
        return False
    if moment - _closed_at < SETTLE and moment - _first_pending < LONGEST_WAIT:
        return False
    _closed_at = _first_pending = None
    if _trim is None:
        return False
    gc.collect()  # aiortc's objects sit in reference cycles
    _trim(0)
    return True
