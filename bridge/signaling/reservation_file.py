"""Keeps the realm's reservations in a file, so that a restarted server still knows whose id
is whose: loaded at start, rewritten soon after each change (off the event loop, bursts
coalesced), and once more at close.

A file that is corrupt, foreign, or readable by others is reported and ignored: the server
starts without reservations and replaces the file with its own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bridge.errors import BridgeError
from bridge.signaling.files import ensure_private_dir, read_private, write_private
from bridge.signaling.reservations import (
    MemoryReservationStore,
    Reservation,
    ReservationStore,
    decode_file,
    encode_file,
)

logger = logging.getLogger("bridge.signaling")

#: Seconds between two writes: a burst of registrations costs one write, not thousands.
WRITE_INTERVAL = 0.1
#: Upper bound of one reservation's JSON, for the largest file we accept.
BYTES_PER_RESERVATION = 400


class ReservationFile:
    def __init__(
        self,
        path: Path,
        *,
        grace: float,
        max_reservations: int,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._grace = grace
        self._max_bytes = 4096 + max_reservations * BYTES_PER_RESERVATION
        self._clock = clock
        self._wall_clock = wall_clock
        self._changed = asyncio.Event()
        self._lock = threading.Lock()
        self._written_version = -1
        self._failing = False

    def load(self) -> MemoryReservationStore:
        """The store as the file left it, or an empty one (after saying why)."""
        try:
            ensure_private_dir(self.path.parent)
            if self.path.parent.stat().st_mode & 0o022:
                logger.warning(
                    "[Signaling] Others may replace or delete files in %s: reservations kept "
                    "there may not survive a restart (use a folder only you can write)",
                    self.path.parent,
                )
            text = read_private(self.path, self._max_bytes)
            if text is None:
                return MemoryReservationStore()
            salt, reservations = decode_file(
                text, now=self._clock(), wall_now=self._wall_clock(), grace=self._grace
            )
        except (BridgeError, OSError) as exc:
            logger.warning(
                "[Signaling] Ignored the reservation file %s (%s); starting without reservations",
                self.path,
                exc,
            )
            return MemoryReservationStore()
        if reservations:
            logger.info("[Signaling] %d ids reserved from %s", len(reservations), self.path)
        return MemoryReservationStore(salt, reservations)

    def changed(self) -> None:
        """The store may have changed: write it soon."""
        self._changed.set()

    async def keep(self, store: ReservationStore) -> None:
        """Write the store whenever it changes; runs until cancelled."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            if store.version == self._written_version:
                continue
            # Only the snapshot (immutable reservations) is taken on the event loop.
            await asyncio.to_thread(self._write, *self._snapshot(store))
            await asyncio.sleep(WRITE_INTERVAL)

    def save(self, store: ReservationStore) -> None:
        """Write the store now (at close)."""
        self._write(*self._snapshot(store))

    def _snapshot(
        self, store: ReservationStore
    ) -> tuple[int, bytes, list[Reservation], float, float]:
        return store.version, store.salt, store.snapshot(), self._clock(), self._wall_clock()

    def _write(
        self,
        version: int,
        salt: bytes,
        reservations: list[Reservation],
        now: float,
        wall_now: float,
    ) -> None:
        # The lock and the version keep a late writer thread from replacing newer state.
        with self._lock:
            if version <= self._written_version:
                return
            try:
                write_private(
                    self.path, encode_file(salt, reservations, now=now, wall_now=wall_now)
                )
            except OSError as exc:
                if not self._failing:
                    logger.warning(
                        "[Signaling] Cannot write %s (%s): reservations will not survive a "
                        "restart until it works again",
                        self.path,
                        exc,
                    )
                self._failing = True
                return
            self._failing = False
            self._written_version = version
