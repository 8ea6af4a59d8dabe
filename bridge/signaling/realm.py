"""The realm: who is connected, which ids are reserved for whom, what waits for whom, and
what to send in reply.

Sans-I/O. Each connection is an opaque integer handle owned by the I/O layer; every
method takes the current time and returns the actions (`Send`, `Close`) the I/O layer
must perform. The rules are those of the npm `peer` 1.0.x server, plus limits, plus
reservations: an id stays its token's while the owner is away, for `reservation_grace`.
"""

from __future__ import annotations

import enum
import hmac
import logging
from collections import deque
from dataclasses import dataclass, field

from bridge.config import LimitsConfig
from bridge.errors import ProtocolError
from bridge.protocol.peerjs import (
    UNQUEUED_TYPES,
    ClientMessage,
    ErrorText,
    MessageType,
    ServerMessage,
    error_message,
    id_taken_message,
    is_valid_id,
    is_valid_token,
    open_message,
    relayed,
    relayed_frame,
)
from bridge.ratelimit import TokenBucket
from bridge.signaling.metrics import RejectReason, SignalingMetrics
from bridge.signaling.payload import check_frame_structure, check_payload
from bridge.signaling.ranges import address_range
from bridge.signaling.reservations import (
    Claim,
    ClaimOutcome,
    ClaimResult,
    MemoryReservationStore,
    Reservation,
    ReservationStore,
    token_digest,
)

logger = logging.getLogger("bridge.signaling")

#: What a queued message costs beyond its text (the entry, the deque slot, the str header).
QUEUED_OVERHEAD = 200

#: Relayed types a sender learns about (by EXPIRE) when they cannot be delivered.
_ANSWERED_TYPES = frozenset({MessageType.OFFER, MessageType.ANSWER, MessageType.CANDIDATE})


@dataclass(frozen=True)
class Send:
    conn: int
    message: ServerMessage
    #: The frame, when it is already serialized (a queued message keeps only its text).
    frame: str | None = None

    @property
    def text(self) -> str:
        return self.frame if self.frame is not None else self.message.serialize()


@dataclass(frozen=True)
class Close:
    conn: int
    reason: str


@dataclass(frozen=True)
class Forward:
    """A message for a peer that is not on this server: the cluster's store delivers it to
    the server that holds `message.dst`, or queues it (cluster mode only)."""

    message: ServerMessage
    frame: str


Action = Send | Close | Forward


class RouteResult(enum.Enum):
    """What the cluster's store did with a `Forward`."""

    DELIVERED = "delivered"
    QUEUED = "queued"
    #: Not held anywhere and of a type that is never queued (LEAVE, EXPIRE).
    DROPPED = "dropped"
    #: The sender's own queue budget is spent (ERROR to the sender).
    SENDER_BUDGET = "sender_budget"
    #: A shared queue budget is spent (EXPIRE to the sender, as one server would say).
    SHARED_BUDGET = "shared_budget"
    #: The store could not be asked (EXPIRE to the sender: "could not reach this peer").
    UNAVAILABLE = "unavailable"


@dataclass
class Client:
    id: str
    token_digest: str
    conn: int
    ip: str
    last_seen: float
    bucket: TokenBucket
    throttled: bool = False
    #: The address range the per-address limits count this peer in.
    range: str = ""
    #: When this socket got its id, and whether the id was its token's before (a reconnect):
    #: only an id held for `reservation_min_connected`, or already kept once, is kept again.
    since: float = 0.0
    proven: bool = False


@dataclass(frozen=True)
class QueuedMessage:
    """A relayed message waiting for an absent peer: its frame text, never a parsed payload."""

    type: MessageType
    src: str
    frame: str
    size: int


@dataclass
class MessageQueue:
    """Messages for one absent peer; expires as a whole, like `peer`'s queue."""

    created: float
    messages: deque[QueuedMessage] = field(default_factory=deque)


@dataclass(frozen=True)
class RealmSettings:
    key: str
    alive_timeout: float
    expire_timeout: float
    concurrent_limit: int
    limits: LimitsConfig
    #: Seconds an id stays reserved for its token after its owner left; 0 turns it off.
    reservation_grace: float = 0.0
    #: One of several servers on a shared store: messages for peers that are not here are
    #: `Forward`ed (and queued by the store), never queued here.
    clustered: bool = False


def frame_size(text: str) -> int:
    """Bytes a frame takes on the wire, and at least what its str takes in memory."""
    return len(text) if text.isascii() else len(text.encode())


class Realm:
    def __init__(
        self,
        settings: RealmSettings,
        metrics: SignalingMetrics | None = None,
        store: ReservationStore | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else SignalingMetrics()
        self.store: ReservationStore = store if store is not None else MemoryReservationStore()
        self._clients: dict[str, Client] = {}
        self._by_conn: dict[int, Client] = {}
        #: Sockets per address range, and each range's bucket of new registrations.
        self._per_ip: dict[str, int] = {}
        self._registrations: dict[str, TokenBucket] = {}
        self._queues: dict[str, MessageQueue] = {}
        self._queued_total = 0
        self._queued_bytes = 0
        self._queued_bytes_by_sender: dict[str, int] = {}

    # -- queries ----------

    @property
    def peer_count(self) -> int:
        return len(self._clients)

    @property
    def queued_count(self) -> int:
        return self._queued_total

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def queued_bytes_from(self, sender: str) -> int:
        return self._queued_bytes_by_sender.get(sender, 0)

    def peer_ids(self) -> list[str]:
        return list(self._clients)

    def client_for(self, conn: int) -> Client | None:
        return self._by_conn.get(conn)

    # -- connection lifecycle ----------

    def connect(
        self, conn: int, *, id: str | None, token: str | None, key: str | None, ip: str, now: float
    ) -> list[Action]:
        """A websocket opened at `{path}/peerjs?key&id&token`: register it or refuse it.

        For a store that answers at once (one process). A cluster asks its store in
        between: `admit`, then the store's claim, then `claimed`.
        """
        admission = self.admit(conn, id=id, token=token, key=key, ip=ip, now=now)
        if not isinstance(admission, Claim):
            return admission
        limits = self.settings.limits
        outcome = self.store.claim(
            admission,
            now,
            max_total=limits.max_reservations,
            max_per_ip=limits.max_reservations_per_ip,
        )
        return self.claimed(admission, outcome, now)

    def admit(
        self,
        conn: int,
        *,
        id: str | None,
        token: str | None,
        key: str | None,
        ip: str,
        now: float,
    ) -> Claim | list[Action]:
        """The checks that need no store: parameters, key, this server's own socket limits
        and pace of new registrations, per address range. Returns the claim to put to the
        store (for the client's range), or the refusal."""
        limits = self.settings.limits
        if not id or not token or not key:
            return self._refuse(conn, RejectReason.BAD_PARAMETERS, ErrorText.INVALID_WS_PARAMETERS)
        if not hmac.compare_digest(key.encode(), self.settings.key.encode()):
            return self._refuse(conn, RejectReason.BAD_KEY, ErrorText.INVALID_KEY)
        if not is_valid_id(id, limits.max_id_length):
            return self._refuse(conn, RejectReason.BAD_ID, ErrorText.INVALID_ID)
        if not is_valid_token(token, limits.max_token_length):
            return self._refuse(conn, RejectReason.BAD_TOKEN, ErrorText.INVALID_TOKEN)
        range = address_range(ip)
        paced = charged = False
        if id not in self._clients:
            # A reconnect replaces its own socket here; anyone else needs room for one more.
            if len(self._clients) >= self.settings.concurrent_limit:
                return self._refuse(
                    conn, RejectReason.CONCURRENT_LIMIT, ErrorText.CONNECTION_LIMIT_EXCEED
                )
            if self._per_ip.get(range, 0) >= limits.max_connections_per_ip:
                return self._refuse(conn, RejectReason.IP_LIMIT, ErrorText.IP_LIMIT_EXCEED)
            bucket = self._registrations.get(range)
            if bucket is None:
                bucket = self._registrations[range] = TokenBucket(
                    limits.registrations_per_second_per_ip,
                    float(limits.registration_burst_per_ip),
                    updated=now,
                )
            # Spent, the pace still lets an owner come back for its reserved id (after a
            # restart or a network blip, all of a range's owners come back at once): the
            # store knows whether this is one.
            charged = bucket.take(now)
            paced = not charged
        digest = token_digest(self.store.salt, token)
        return Claim(conn, id, digest, range, ip, paced=paced, charged=charged)

    def claimed(self, claim: Claim, outcome: ClaimOutcome, now: float) -> list[Action]:
        """The store's answer to `claim`: OPEN and what waited for the id, or the refusal."""
        conn, id = claim.conn, claim.id
        result = outcome.result
        if result is ClaimResult.TAKEN:
            # Connected or away, the id is its token's: another token never takes it.
            self.metrics.reject(RejectReason.ID_TAKEN)
            logger.info("[Signaling] Refused id %s: reserved for another token", id)
            return [Send(conn, id_taken_message()), Close(conn, "id taken")]
        if result is ClaimResult.FULL:
            return self._refuse(
                conn, RejectReason.CONCURRENT_LIMIT, ErrorText.CONNECTION_LIMIT_EXCEED
            )
        if result is ClaimResult.IP_FULL:
            return self._refuse(conn, RejectReason.IP_LIMIT, ErrorText.IP_LIMIT_EXCEED)
        if result is ClaimResult.PACED:
            return self._refuse(conn, RejectReason.REGISTRATION_RATE, ErrorText.REGISTRATION_RATE)
        if result is ClaimResult.UNAVAILABLE:
            return self._refuse(
                conn, RejectReason.CLUSTER_UNAVAILABLE, ErrorText.CLUSTER_UNAVAILABLE
            )
        if outcome.reserved and claim.charged:
            bucket = self._registrations.get(claim.ip)
            if bucket is not None:
                bucket.give()  # an owner came back: not a new registration
        actions: list[Action] = []
        existing = self._clients.get(id)
        if existing is not None:
            # Same id and token: a reconnect. The new socket replaces the old one.
            logger.info("[Signaling] Peer %s reconnected", id)
            actions.append(Close(existing.conn, "replaced by a reconnect"))
            self._forget(existing, now, replaced=True)
        elif outcome.reserved:
            logger.info("[Signaling] Peer %s took back its reserved id from %s", id, claim.where)
        else:
            logger.info("[Signaling] Peer %s connected from %s", id, claim.where)
        limits = self.settings.limits
        client = Client(
            id,
            claim.token_digest,
            conn,
            claim.address or claim.ip,
            now,
            TokenBucket(limits.messages_per_second, float(limits.message_burst), updated=now),
            range=claim.ip,
            since=now,
            proven=outcome.reserved or existing is not None,
        )
        self._remember(client)
        self.metrics.connections += 1
        actions.append(Send(conn, open_message()))
        actions.extend(self._drain_queue(id))
        for queued in outcome.queued:
            kind = MessageType(queued.type)
            self.metrics.relayed[kind.value] += 1
            actions.append(Send(conn, ServerMessage(kind, queued.src, id), queued.frame))
        return actions

    def disconnect(self, conn: int, *, now: float) -> list[Action]:
        """The socket `conn` closed. A socket already replaced by a reconnect changes nothing."""
        client = self._by_conn.get(conn)
        if client is not None:
            logger.info("[Signaling] Peer %s disconnected", client.id)
            self._forget(client, now)
        return []

    def send_failed(self, conn: int, message: ServerMessage, *, now: float) -> list[Action]:
        """`conn` is closed or closing: that peer is dead; tell the sender it left."""
        client = self._by_conn.get(conn)
        actions: list[Action] = [Close(conn, "send failed")]
        if client is not None:
            self._forget(client, now)
            if message.src and message.type is not MessageType.LEAVE:
                leave = ServerMessage(MessageType.LEAVE, client.id, message.src)
                actions.extend(self._to_peer(leave))
        return actions

    def send_refused(self, conn: int, message: ServerMessage) -> list[Action]:
        """`conn` is alive but far behind in reading: `message` is dropped, not its reader.

        The sender pays: it gets EXPIRE from the destination (PeerJS's "could not reach this
        peer", which does not end a PeerJS client as an ERROR would). The slow reader keeps
        its socket and id; heartbeats and `alive_timeout` decide whether it is dead.
        """
        self.metrics.reject(RejectReason.DESTINATION_BUSY)
        client = self._by_conn.get(conn)
        if client is None or message.src is None or message.type not in _ANSWERED_TYPES:
            return []
        if message.src == client.id:
            return []
        logger.info(
            "[Signaling] %s is not reading; refused %s from %s",
            client.id,
            message.type,
            message.src,
        )
        return self._to_peer(ServerMessage(MessageType.EXPIRE, client.id, message.src))

    # -- messages ----------

    def receive_text(self, conn: int, text: str, now: float) -> list[Action]:
        """A text frame from `conn`. Bad input is answered with ERROR and relays nothing."""
        client = self._by_conn.get(conn)
        if client is None:
            return []
        limits = self.settings.limits
        # UTF-8 takes at most 4 bytes a character: encode only when the length is in doubt.
        if len(text) > limits.max_frame_bytes or (
            len(text) * 4 > limits.max_frame_bytes and len(text.encode()) > limits.max_frame_bytes
        ):
            self.metrics.reject(RejectReason.FRAME_TOO_LARGE)
            self._forget(client, now)
            return [
                Send(conn, error_message(ErrorText.FRAME_TOO_LARGE)),
                Close(conn, "frame too large"),
            ]
        if not client.bucket.take(now):
            self.metrics.reject(RejectReason.RATE_LIMITED)
            # One ERROR per throttled stretch, so a flood cannot make us amplify it.
            if client.throttled:
                return []
            client.throttled = True
            return [Send(conn, error_message(ErrorText.RATE_LIMITED))]
        client.throttled = False
        try:
            check_frame_structure(text)
            message = ClientMessage.parse(text, max_id_length=limits.max_id_length)
            check_payload(message.payload)
        except ProtocolError as exc:
            self.metrics.reject(RejectReason.MALFORMED)
            return [Send(conn, error_message(f"Invalid message: {exc}"))]
        client.last_seen = now
        if message.type is MessageType.HEARTBEAT:
            return []
        return self._transmit(relayed(message, client.id), now, relayed_frame(message, client.id))

    def receive_binary(self, conn: int) -> list[Action]:
        if conn not in self._by_conn:
            return []
        self.metrics.reject(RejectReason.BINARY_FRAME)
        return [Send(conn, error_message(ErrorText.BINARY_FRAME))]

    def _transmit(
        self, message: ServerMessage, now: float, frame: str | None = None
    ) -> list[Action]:
        assert message.src is not None
        destination = self._clients.get(message.dst) if message.dst else None
        if destination is not None:
            self.metrics.relayed[message.type.value] += 1
            logger.debug("[Signaling] Relay %s", message)
            return [Send(destination.conn, message, frame)]
        if message.type is MessageType.LEAVE and message.dst is None:
            sender = self._clients.get(message.src)
            if sender is not None:
                logger.info("[Signaling] Peer %s left", sender.id)
                # Leaving on purpose gives the id up at once.
                self._forget(sender, now, release=True)
                return [Close(sender.conn, "left")]
            return []
        if message.dst is None:
            return []
        if self.settings.clustered:
            # The store knows where dst is; it queues what one server would queue.
            return [Forward(message, frame if frame is not None else message.serialize())]
        if message.type in UNQUEUED_TYPES:
            return []
        return self._enqueue(message, now, frame)

    def _enqueue(self, message: ServerMessage, now: float, frame: str | None) -> list[Action]:
        assert message.dst is not None and message.src is not None
        limits = self.settings.limits
        sender = self._clients.get(message.src)
        if frame is None:
            frame = message.serialize()
        size = frame_size(frame) + QUEUED_OVERHEAD
        if self.queued_bytes_from(message.src) + size > limits.max_queued_bytes_per_sender:
            # The sender's own budget: its fault, and ERROR tells it so.
            self.metrics.reject(RejectReason.QUEUE_FULL)
            return [Send(sender.conn, error_message(ErrorText.QUEUE_BUDGET))] if sender else []
        queue = self._queues.get(message.dst)
        if (
            (queue is not None and len(queue.messages) >= limits.max_queued_per_peer)
            or self._queued_total >= limits.max_queued_total
            or self._queued_bytes + size > limits.max_queued_bytes_total
        ):
            # Shared budgets that others may have filled: answer as if the peer expired, which
            # a PeerJS client survives (an ERROR would end it).
            self.metrics.reject(RejectReason.QUEUE_FULL)
            if sender is None:
                return []
            return [Send(sender.conn, ServerMessage(MessageType.EXPIRE, message.dst, sender.id))]
        if queue is None:
            # `peer` stamps the queue when it is created and expires it as a whole.
            queue = self._queues[message.dst] = MessageQueue(created=now)
        queue.messages.append(QueuedMessage(message.type, message.src, frame, size))
        self._count_queued(message.src, size, 1)
        self.metrics.queued += 1
        logger.debug("[Signaling] Queued %s for absent %s", message.type, message.dst)
        return []

    def _drain_queue(self, id: str) -> list[Action]:
        queue = self._queues.pop(id, None)
        if queue is None:
            return []
        client = self._clients[id]
        actions: list[Action] = []
        for queued in queue.messages:
            self._count_queued(queued.src, -queued.size, -1)
            self.metrics.relayed[queued.type.value] += 1
            routing = ServerMessage(queued.type, queued.src, id)
            actions.append(Send(client.conn, routing, queued.frame))
        return actions

    def _count_queued(self, sender: str, size: int, count: int) -> None:
        self._queued_total += count
        self._queued_bytes += size
        left = self._queued_bytes_by_sender.get(sender, 0) + size
        if left > 0:
            self._queued_bytes_by_sender[sender] = left
        else:
            self._queued_bytes_by_sender.pop(sender, None)

    # -- a cluster: messages and ids that cross servers ----------

    def _to_peer(self, message: ServerMessage) -> list[Action]:
        """A message from the server to `message.dst`: here, through the cluster, or nowhere."""
        assert message.dst is not None
        client = self._clients.get(message.dst)
        if client is not None:
            if message.type is MessageType.EXPIRE or message.type is MessageType.LEAVE:
                self.metrics.relayed[message.type.value] += 1
            return [Send(client.conn, message)]
        if self.settings.clustered:
            return [Forward(message, message.serialize())]
        return []

    def forwarded(self, message: ServerMessage, result: RouteResult) -> list[Action]:
        """What the cluster's store did with a `Forward` of `message`."""
        assert message.src is not None and message.dst is not None
        if result is RouteResult.DELIVERED:
            self.metrics.forwarded += 1
            return []
        if result is RouteResult.QUEUED:
            self.metrics.queued += 1
            logger.debug("[Signaling] Queued %s for absent %s", message.type, message.dst)
            return []
        if result is RouteResult.DROPPED:
            return []
        sender = self._clients.get(message.src)
        if sender is None or message.type not in _ANSWERED_TYPES:
            return []
        if result is RouteResult.SENDER_BUDGET:
            self.metrics.reject(RejectReason.QUEUE_FULL)
            return [Send(sender.conn, error_message(ErrorText.QUEUE_BUDGET))]
        if result is RouteResult.SHARED_BUDGET:
            self.metrics.reject(RejectReason.QUEUE_FULL)
        return [Send(sender.conn, ServerMessage(MessageType.EXPIRE, message.dst, sender.id))]

    def deliver(self, message: ServerMessage, frame: str) -> list[Action]:
        """A message another server forwarded to a peer it believes is here."""
        assert message.dst is not None and message.src is not None
        client = self._clients.get(message.dst)
        if client is not None:
            self.metrics.relayed[message.type.value] += 1
            logger.debug("[Signaling] Relay %s (from another instance)", message)
            return [Send(client.conn, message, frame)]
        if message.type not in _ANSWERED_TYPES:
            return []
        # It left, or moved, on the way: the sender hears what one server would say.
        return self._to_peer(ServerMessage(MessageType.EXPIRE, message.dst, message.src))

    def expired_elsewhere(self, pairs: list[tuple[str, str]]) -> list[Action]:
        """Queues in the cluster's store that expired: (dst, src), one per pair."""
        actions: list[Action] = []
        for dst, src in pairs:
            self.metrics.expired += 1
            actions.extend(self._to_peer(ServerMessage(MessageType.EXPIRE, dst, src)))
        return actions

    def moved(self, id: str, conn: int, now: float) -> list[Action]:
        """`id` was claimed by its token on another server: the socket here is replaced."""
        client = self._by_conn.get(conn)
        if client is None or client.id != id:
            return []
        logger.info("[Signaling] Peer %s reconnected on another instance", id)
        self._forget(client, now, replaced=True)
        return [Close(conn, "replaced by a reconnect elsewhere")]

    def lost(self, conn: int, now: float) -> list[Action]:
        """Re-registering after the store was away, `conn`'s id turned out to be taken."""
        client = self._by_conn.get(conn)
        if client is None:
            return []
        logger.warning("[Signaling] Peer %s lost its id while the cluster was away", client.id)
        self._forget(client, now, replaced=True)
        return [Send(conn, id_taken_message()), Close(conn, "id taken")]

    def registrations(self) -> list[Claim]:
        """What this server holds, as claims: to register again after the store was away."""
        return [Claim(c.conn, c.id, c.token_digest, c.range, c.ip) for c in self._clients.values()]

    def held(self) -> list[tuple[str, int]]:
        """(id, conn) of every peer connected here."""
        return [(c.id, c.conn) for c in self._clients.values()]

    # -- time ----------

    def tick(self, now: float) -> list[Action]:
        """Drop silent peers, lapse reservations and expire old queues; run every
        `cleanup_interval`."""
        actions: list[Action] = []
        for client in list(self._clients.values()):
            if now - client.last_seen >= self.settings.alive_timeout:
                logger.info("[Signaling] Peer %s timed out", client.id)
                self.metrics.timed_out += 1
                self._forget(client, now)
                actions.append(Close(client.conn, "alive timeout"))
        for reservation in self.store.lapse(now):
            logger.info("[Signaling] Reservation of %s lapsed", reservation.id)
        for range, bucket in list(self._registrations.items()):
            if bucket.full(now):
                del self._registrations[range]  # a fresh one would be the same
        for dst, queue in list(self._queues.items()):
            if now - queue.created < self.settings.expire_timeout:
                continue
            del self._queues[dst]
            told: set[str] = set()
            for queued in queue.messages:
                self._count_queued(queued.src, -queued.size, -1)
                self.metrics.expired += 1
                if queued.src in told:
                    continue
                told.add(queued.src)
                sender = self._clients.get(queued.src)
                if sender is not None:
                    expire = ServerMessage(MessageType.EXPIRE, dst, queued.src)
                    self.metrics.relayed[MessageType.EXPIRE.value] += 1
                    actions.append(Send(sender.conn, expire))
        return actions

    # -- bookkeeping ----------

    def _refuse(self, conn: int, reason: RejectReason, text: str) -> list[Action]:
        self.metrics.reject(reason)
        logger.info("[Signaling] Refused connection: %s", text)
        return [Send(conn, error_message(text)), Close(conn, text)]

    def _remember(self, client: Client) -> None:
        self._clients[client.id] = client
        self._by_conn[client.conn] = client
        self._per_ip[client.range] = self._per_ip.get(client.range, 0) + 1

    def shutdown(self, now: float) -> None:
        """The server is stopping: every peer's id is kept for the grace period, however
        short its socket's life (the server went, not the peer)."""
        for client in list(self._clients.values()):
            self._forget(client, now, kept=True)

    def _forget(
        self,
        client: Client,
        now: float,
        *,
        release: bool = False,
        replaced: bool = False,
        kept: bool = False,
    ) -> None:
        """`client`'s socket is gone. Its id stays reserved for its token for the grace
        period, unless it left on purpose (or reservations are off), a new socket of the
        same token holds it now (`replaced`), or it held the id too briefly to be worth
        keeping (a socket that registers and closes at once leaves nothing: one that did
        filled a realm's reservations from a few addresses)."""
        if self._clients.get(client.id) is client:
            del self._clients[client.id]
            self.metrics.disconnections += 1
            limits = self.settings.limits
            grace = self.settings.reservation_grace
            held_long = client.proven or now - client.since >= limits.reservation_min_connected
            if replaced:
                pass
            elif release or grace <= 0 or not (held_long or kept):
                self.store.remove(client.id, client.conn)
            else:
                self.store.put(
                    Reservation(
                        client.id, client.token_digest, now + grace, client.range, client.conn
                    ),
                    max_away_per_ip=limits.max_away_reservations_per_ip,
                )
        self._by_conn.pop(client.conn, None)
        remaining = self._per_ip.get(client.range, 0) - 1
        if remaining > 0:
            self._per_ip[client.range] = remaining
        else:
            self._per_ip.pop(client.range, None)
