"""Reservations: which token owns which peer id, while its owner is connected and for a grace
period after it went away. Sans-I/O.

The realm applies the rules; a `ReservationStore` holds the state. `MemoryReservationStore` is
one server's store, and `encode_file` / `decode_file` let the I/O layer keep it across a
restart. A cluster (issue 11) is a second store behind the same protocol, not a second server.
Tokens are never kept: a reservation holds a salted SHA-256 digest of its token.
"""

from __future__ import annotations

import enum
import hashlib
import heapq
import hmac
import json
import math
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from bridge.errors import BridgeError
from bridge.protocol.peerjs import is_valid_id

FILE_FORMAT = "pathfinder-bridge/signaling-reservations"
FILE_VERSION = 1
SALT_BYTES = 16
#: A file holding more than this is not ours (the store's own cap is far lower by default).
MAX_FILE_RESERVATIONS = 1_000_000


class ReservationFileError(BridgeError):
    """The reservation file cannot be used; the server starts without its reservations."""


def token_digest(salt: bytes, token: str) -> str:
    return hashlib.sha256(salt + token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    token_digest: str
    #: Realm time at which the reservation lapses; None while its owner is connected.
    until: float | None = None
    #: The owner's address range, for the per-range caps ("" when loaded from a file).
    ip: str = ""
    #: The owner's connection (the realm's handle), so that a store shared by several
    #: servers changes an id only for the socket that holds it; None when loaded.
    conn: int | None = None

    @property
    def held(self) -> bool:
        return self.until is None

    def lapsed(self, now: float) -> bool:
        return self.until is not None and now >= self.until


@dataclass(frozen=True, slots=True)
class Claim:
    """A socket asks for an id with its token (as a digest under the store's salt)."""

    conn: int
    id: str
    token_digest: str
    #: The address range the caps count the claim in (`bridge/signaling/ranges.py`).
    ip: str
    #: The client's own address, for logs ("" when unknown).
    address: str = ""
    #: The range's pace of new registrations is spent: only an owner coming back for the id
    #: reserved for its token may claim it (`ClaimResult.PACED` otherwise).
    paced: bool = False
    #: A registration of the range's pace was spent on this claim (given back when it
    #: turns out to be an owner coming back).
    charged: bool = False

    @property
    def where(self) -> str:
        return self.address or self.ip


class ClaimResult(enum.Enum):
    CLAIMED = "claimed"
    #: Held or reserved for another token.
    TAKEN = "taken"
    #: `max_reservations` ids are held or reserved already.
    FULL = "full"
    #: `max_reservations_per_ip` ids are held or reserved from this address range already.
    IP_FULL = "ip_full"
    #: The store cannot be asked now (a cluster whose Redis is away).
    UNAVAILABLE = "unavailable"
    #: A new id while the range's pace of new registrations is spent (`Claim.paced`).
    PACED = "paced"


@dataclass(frozen=True, slots=True)
class QueuedFrame:
    """A relayed message that waited for the claimed id elsewhere (a cluster's queue)."""

    type: str
    src: str
    frame: str


@dataclass(frozen=True)
class ClaimOutcome:
    result: ClaimResult
    #: The id was reserved for this token while its owner was away (or is held by it now).
    reserved: bool = False
    #: Messages queued for the id in a shared store, to deliver after OPEN.
    queued: tuple[QueuedFrame, ...] = ()


def decide_claim(
    current: Reservation | None,
    claim: Claim,
    *,
    total: int,
    for_ip: int,
    max_total: int,
    max_per_ip: int,
) -> ClaimResult:
    """The rule of a claim, for a store that holds `current` (not lapsed) for `claim.id`:
    another token's id is taken; a new id must fit the range's pace and both caps (the owner
    of a reserved id is never paced: the reservation bounds how many there can be). The Redis
    store runs the same rule in one Lua script (`bridge/signaling/cluster_scripts.py`),
    atomically."""
    if current is not None:
        if hmac.compare_digest(current.token_digest, claim.token_digest):
            return ClaimResult.CLAIMED
        return ClaimResult.TAKEN
    if claim.paced:
        return ClaimResult.PACED
    if total >= max_total:
        return ClaimResult.FULL
    if for_ip >= max_per_ip:
        return ClaimResult.IP_FULL
    return ClaimResult.CLAIMED


class ReservationStore(Protocol):
    """Where the realm keeps reservations. `version` moves on every change, so an I/O layer
    knows when to persist or publish them."""

    @property
    def salt(self) -> bytes: ...

    @property
    def version(self) -> int: ...

    def get(self, id: str) -> Reservation | None: ...

    def put(self, reservation: Reservation, *, max_away_per_ip: int = 0) -> None:
        """Hold or keep `reservation`. An away one (`until` set) past `max_away_per_ip` away
        reservations of its range (0: no cap) makes the range's oldest away one go."""
        ...

    def remove(self, id: str, conn: int | None = None) -> None:
        """Forget `id` (its socket `conn` left on purpose, or its reservation lapsed)."""
        ...

    def lapse(self, now: float) -> list[Reservation]:
        """Remove and return the reservations that lapsed at `now`."""
        ...

    def count(self) -> int: ...

    def count_for_ip(self, ip: str) -> int: ...

    def snapshot(self) -> list[Reservation]: ...

    def claim(self, claim: Claim, now: float, *, max_total: int, max_per_ip: int) -> ClaimOutcome:
        """Give `claim.id` to the claiming socket, or say why not: check and set at once."""
        ...


class MemoryReservationStore:
    """One server's reservations: a dict, a count per address range, the away ones of each
    range in the order they went away, and a heap of expiry times."""

    def __init__(self, salt: bytes | None = None, reservations: Iterable[Reservation] = ()):
        self._salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
        self._by_id: dict[str, Reservation] = {}
        self._per_ip: Counter[str] = Counter()
        self._away: dict[str, dict[str, None]] = {}
        # (until, id); entries are checked against _by_id when popped (lazy deletion).
        self._expiry: list[tuple[float, str]] = []
        self._version = 0
        for reservation in reservations:
            self.put(reservation)

    @property
    def salt(self) -> bytes:
        return self._salt

    @property
    def version(self) -> int:
        return self._version

    def get(self, id: str) -> Reservation | None:
        return self._by_id.get(id)

    def put(self, reservation: Reservation, *, max_away_per_ip: int = 0) -> None:
        self._discard(reservation.id)
        self._by_id[reservation.id] = reservation
        self._per_ip[reservation.ip] += 1
        if reservation.until is not None:
            heapq.heappush(self._expiry, (reservation.until, reservation.id))
            away = self._away.setdefault(reservation.ip, {})
            away[reservation.id] = None
            while max_away_per_ip and len(away) > max_away_per_ip:
                self._discard(next(iter(away)))
        self._version += 1

    def remove(self, id: str, conn: int | None = None) -> None:
        if self._discard(id):
            self._version += 1

    def lapse(self, now: float) -> list[Reservation]:
        lapsed: list[Reservation] = []
        while self._expiry and self._expiry[0][0] <= now:
            until, id = heapq.heappop(self._expiry)
            current = self._by_id.get(id)
            if current is not None and current.until == until:
                self.remove(id)
                lapsed.append(current)
        return lapsed

    def count(self) -> int:
        return len(self._by_id)

    def claim(self, claim: Claim, now: float, *, max_total: int, max_per_ip: int) -> ClaimOutcome:
        current = self._by_id.get(claim.id)
        if current is not None and current.lapsed(now):
            self.remove(claim.id)
            current = None
        result = decide_claim(
            current,
            claim,
            total=len(self._by_id),
            for_ip=self._per_ip[claim.ip],
            max_total=max_total,
            max_per_ip=max_per_ip,
        )
        if result is not ClaimResult.CLAIMED:
            return ClaimOutcome(result)
        self.put(Reservation(claim.id, claim.token_digest, None, claim.ip, claim.conn))
        return ClaimOutcome(result, reserved=current is not None)

    def count_for_ip(self, ip: str) -> int:
        return self._per_ip[ip]

    def snapshot(self) -> list[Reservation]:
        return list(self._by_id.values())

    def count_away(self, ip: str) -> int:
        return len(self._away.get(ip, ()))

    def _discard(self, id: str) -> bool:
        old = self._by_id.pop(id, None)
        if old is None:
            return False
        self._per_ip[old.ip] -= 1
        if self._per_ip[old.ip] <= 0:
            del self._per_ip[old.ip]
        if old.until is not None:
            away = self._away[old.ip]
            del away[id]
            if not away:
                del self._away[old.ip]
        return True


# -- the file that carries reservations across a restart ----------


def encode_file(
    salt: bytes, reservations: Iterable[Reservation], *, now: float, wall_now: float
) -> str:
    """Reservations (a store's snapshot) as JSON text. Times become wall-clock (Unix) seconds;
    a connected owner's reservation has none: its grace period starts when the next server
    loads the file."""
    # The I/O layer runs this in a thread, but it holds the GIL throughout: with thousands of
    # ids, up to ten times a second, it must be quick (orjson: a tenth of json's time).
    offset = wall_now - now
    entries = [
        {
            "id": r.id,
            "token_sha256": r.token_digest,
            "until": None if r.until is None else r.until + offset,
        }
        for r in reservations
    ]
    document = {
        "format": FILE_FORMAT,
        "version": FILE_VERSION,
        "salt": salt.hex(),
        "saved_at": wall_now,
        "reservations": entries,
    }
    return orjson.dumps(document).decode()


def decode_file(
    text: str, *, now: float, wall_now: float, grace: float
) -> tuple[bytes, list[Reservation]]:
    """Parse a file written by `encode_file`; raise ReservationFileError for anything else.

    Every reservation restarts in realm time and lasts at most `grace` from `now`, so a
    clock that jumped cannot make one last longer. Lapsed ones are left out.
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise ReservationFileError("not valid JSON") from None
    if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
        raise ReservationFileError("not a reservation file of pathfinder-bridge")
    if document.get("version") != FILE_VERSION:
        raise ReservationFileError(f"unknown version {document.get('version')!r}")
    salt = _salt(document.get("salt"))
    entries = document.get("reservations")
    if not isinstance(entries, list) or len(entries) > MAX_FILE_RESERVATIONS:
        raise ReservationFileError("'reservations' must be a list")
    reservations: list[Reservation] = []
    for index, entry in enumerate(entries):
        reservation = _reservation(entry, index, now=now, wall_now=wall_now, grace=grace)
        if reservation is not None:
            reservations.append(reservation)
    return salt, reservations


def _salt(value: Any) -> bytes:
    try:
        salt = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        salt = b""
    if len(salt) != SALT_BYTES:
        raise ReservationFileError("'salt' must be 16 bytes of hex")
    return salt


def _reservation(
    entry: Any, index: int, *, now: float, wall_now: float, grace: float
) -> Reservation | None:
    where = f"reservations[{index}]"
    if not isinstance(entry, dict):
        raise ReservationFileError(f"{where} must be an object")
    id, digest, until = entry.get("id"), entry.get("token_sha256"), entry.get("until")
    if not isinstance(id, str) or not is_valid_id(id, 256):
        raise ReservationFileError(f"{where}: 'id' is not a peer id")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ReservationFileError(f"{where}: 'token_sha256' must be 64 hex digits")
    if until is None:
        remaining = grace
    elif isinstance(until, int | float) and not isinstance(until, bool) and math.isfinite(until):
        remaining = min(grace, until - wall_now)
    else:
        raise ReservationFileError(f"{where}: 'until' must be a number or null")
    if remaining <= 0:
        return None
    return Reservation(id, digest, now + remaining)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
