"""The realm's store when several servers share one realm on Redis: sans-I/O parts.

`SharedReservations` is what the realm writes to (a `ReservationStore`): claims go to Redis
directly (atomic, awaited by the I/O layer), so here only the writes that follow from the
realm's rules wait in an outbox: an owner left (reserve for the grace period) or gave its
id up. The rest parses what the Redis scripts (`cluster_scripts.py`) answer and what
instances publish to each other, and paces reconnection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.errors import ProtocolError
from bridge.protocol.peerjs import MessageType, ServerMessage
from bridge.signaling.metrics import ROUND_TRIP_BUCKETS
from bridge.signaling.realm import RouteResult
from bridge.signaling.reservations import (
    Claim,
    ClaimOutcome,
    ClaimResult,
    QueuedFrame,
    Reservation,
)


@dataclass(frozen=True, slots=True)
class Release:
    """Socket `owner` no longer holds `id`: keep it for its token `grace_ms`, or free it (0).
    A kept id past `max_away` away ids of its range makes the range's oldest one go."""

    id: str
    owner: str
    grace_ms: int
    max_away: int = 0


@dataclass
class ClusterMetrics:
    round_trips: int = 0
    errors: int = 0
    outages: int = 0
    sent: int = 0
    received: int = 0
    up: bool = False
    slow: int = 0
    #: Round trips by bucket of ROUND_TRIP_BUCKETS (cumulative counts are made when rendered).
    round_trip_counts: list[int] = field(default_factory=lambda: [0] * len(ROUND_TRIP_BUCKETS))
    round_trip_seconds: float = 0.0

    def round_trip(self, seconds: float) -> None:
        self.round_trips += 1
        self.round_trip_seconds += seconds
        for index, bound in enumerate(ROUND_TRIP_BUCKETS):
            if seconds <= bound:
                self.round_trip_counts[index] += 1
                break


@dataclass(frozen=True)
class ClusterFigures:
    """Realm-wide figures, as of the last renewal."""

    realm_peers: int = 0
    instances: int = 0
    reservations: int = 0
    queued_messages: int = 0
    queued_bytes: int = 0


class SharedReservations:
    """The realm's `ReservationStore` in cluster mode: writes wait in `outbox` for Redis."""

    def __init__(self, incarnation: str, salt: bytes, *, grace: float) -> None:
        self.incarnation = incarnation
        self._salt = salt
        self._grace_ms = max(0, round(grace * 1000))
        self._version = 0
        self.outbox: list[Release] = []
        self.figures = ClusterFigures()

    def owner(self, conn: int) -> str:
        return f"{self.incarnation}/{conn}"

    @property
    def salt(self) -> bytes:
        return self._salt

    @salt.setter
    def salt(self, value: bytes) -> None:
        self._salt = value

    @property
    def version(self) -> int:
        return self._version

    def get(self, id: str) -> Reservation | None:
        return None  # Redis answers claims; nothing is read here

    def put(self, reservation: Reservation, *, max_away_per_ip: int = 0) -> None:
        if reservation.held or reservation.conn is None:
            return  # a claim wrote it
        # Its owner left: the realm keeps it `reservation_grace`, which Redis counts itself.
        self.outbox.append(
            Release(reservation.id, self.owner(reservation.conn), self._grace_ms, max_away_per_ip)
        )
        self._version += 1

    def remove(self, id: str, conn: int | None = None) -> None:
        if conn is not None:
            self.outbox.append(Release(id, self.owner(conn), 0))
            self._version += 1

    def lapse(self, now: float) -> list[Reservation]:
        return []  # Redis lapses leases by their TTL

    def count(self) -> int:
        return self.figures.reservations

    def count_for_ip(self, ip: str) -> int:
        return 0  # counted in Redis, at claim time

    def snapshot(self) -> list[Reservation]:
        return []

    def claim(self, claim: Claim, now: float, *, max_total: int, max_per_ip: int) -> ClaimOutcome:
        raise NotImplementedError("a cluster claims in Redis: admit(), then claimed()")


def claim_outcome(answer: list[bytes]) -> tuple[ClaimOutcome, str]:
    """The claim script's answer, and the previous owner ('' when none)."""
    kind = answer[0].decode()
    if kind != "claimed":
        return ClaimOutcome(ClaimResult(kind)), ""
    queued = tuple(queued_frame(entry) for entry in answer[3:])
    return ClaimOutcome(ClaimResult.CLAIMED, answer[1] == b"1", queued), answer[2].decode()


def queued_frame(entry: bytes) -> QueuedFrame:
    kind, src, _size, frame = entry.decode().split("\n", 3)
    return QueuedFrame(kind, src, frame)


def route_result(answer: bytes) -> RouteResult:
    return RouteResult(answer.decode())


def figures(answer: list[int | bytes]) -> tuple[ClusterFigures, list[str]]:
    """The renewal's answer: realm-wide figures, and ids of ours whose record is gone."""
    numbers = [int(value) for value in answer[:5]]
    missing = [bytes(value).decode() for value in answer[5:] if isinstance(value, bytes)]
    return ClusterFigures(*numbers), missing


@dataclass(frozen=True)
class Delivery:
    """A message another instance routed to a peer here."""

    message: ServerMessage
    frame: str


@dataclass(frozen=True)
class Moved:
    """The token of `id` claimed it on another instance: socket `conn` here is replaced."""

    id: str
    conn: int


def parse_envelope(data: bytes, incarnation: str) -> list[Delivery] | Moved:
    """What arrived on this instance's channel: messages another instance routed here (in
    the order they were sent), or a socket replaced elsewhere. Raises ProtocolError for
    anything else."""
    try:
        if data.startswith(b"B\n"):
            return _deliveries(data)
        if data.startswith(b"K\n"):
            _, id, owner = data.decode().split("\n", 2)
            mine, _, conn = owner.rpartition("/")
            if mine == incarnation:
                return Moved(id, int(conn))
    except (UnicodeDecodeError, ValueError):
        pass
    raise ProtocolError(f"not a cluster message: {data[:40]!r}")


def _deliveries(data: bytes) -> list[Delivery]:
    """`B`, then per message `dst type src length frame` separated by newlines (the length
    in bytes: a frame may hold newlines)."""
    deliveries: list[Delivery] = []
    at = 2
    while at < len(data):
        fields: list[str] = []
        for _ in range(4):
            end = data.index(b"\n", at)
            fields.append(data[at:end].decode())
            at = end + 1
        dst, kind, src, length = fields
        end = at + int(length)
        if end > len(data):
            raise ValueError("truncated")
        frame = data[at:end].decode()
        deliveries.append(Delivery(ServerMessage(MessageType(kind), src, dst), frame))
        at = end + 1
    if not deliveries:
        raise ValueError("empty")
    return deliveries
