"""The realm: who is connected, what waits for whom, and what to send in reply.

Sans-I/O. Each connection is an opaque integer handle owned by the I/O layer; every
method takes the current time and returns the actions (`Send`, `Close`) the I/O layer
must perform. The rules are those of the npm `peer` 1.0.x server, plus limits.
"""

from __future__ import annotations

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
)
from bridge.signaling.metrics import RejectReason, SignalingMetrics
from bridge.signaling.ratelimit import TokenBucket

logger = logging.getLogger("bridge.signaling")


@dataclass(frozen=True)
class Send:
    conn: int
    message: ServerMessage


@dataclass(frozen=True)
class Close:
    conn: int
    reason: str


Action = Send | Close


@dataclass
class Client:
    id: str
    token: str
    conn: int
    ip: str
    last_seen: float
    bucket: TokenBucket
    throttled: bool = False


@dataclass
class MessageQueue:
    """Messages for one absent peer; expires as a whole, like `peer`'s queue."""

    created: float
    messages: deque[ServerMessage] = field(default_factory=deque)


@dataclass(frozen=True)
class RealmSettings:
    key: str
    alive_timeout: float
    expire_timeout: float
    concurrent_limit: int
    limits: LimitsConfig


class Realm:
    def __init__(self, settings: RealmSettings, metrics: SignalingMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else SignalingMetrics()
        self._clients: dict[str, Client] = {}
        self._by_conn: dict[int, Client] = {}
        self._per_ip: dict[str, int] = {}
        self._queues: dict[str, MessageQueue] = {}
        self._queued_total = 0

    # -- queries ----------

    @property
    def peer_count(self) -> int:
        return len(self._clients)

    @property
    def queued_count(self) -> int:
        return self._queued_total

    def peer_ids(self) -> list[str]:
        return list(self._clients)

    def client_for(self, conn: int) -> Client | None:
        return self._by_conn.get(conn)

    # -- connection lifecycle ----------

    def connect(
        self, conn: int, *, id: str | None, token: str | None, key: str | None, ip: str, now: float
    ) -> list[Action]:
        """A websocket opened at `{path}/peerjs?key&id&token`: register it or refuse it."""
        limits = self.settings.limits
        if not id or not token or not key:
            return self._refuse(conn, RejectReason.BAD_PARAMETERS, ErrorText.INVALID_WS_PARAMETERS)
        if not hmac.compare_digest(key.encode(), self.settings.key.encode()):
            return self._refuse(conn, RejectReason.BAD_KEY, ErrorText.INVALID_KEY)
        if not is_valid_id(id, limits.max_id_length):
            return self._refuse(conn, RejectReason.BAD_ID, ErrorText.INVALID_ID)
        if not is_valid_token(token, limits.max_token_length):
            return self._refuse(conn, RejectReason.BAD_TOKEN, ErrorText.INVALID_TOKEN)

        actions: list[Action] = []
        existing = self._clients.get(id)
        if existing is not None:
            if not hmac.compare_digest(token.encode(), existing.token.encode()):
                self.metrics.reject(RejectReason.ID_TAKEN)
                return [Send(conn, id_taken_message()), Close(conn, "id taken")]
            # Same id and token: a reconnect. The new socket replaces the old one.
            logger.info("[Signaling] Peer %s reconnected", id)
            actions.append(Close(existing.conn, "replaced by a reconnect"))
            self._forget(existing)
        else:
            if len(self._clients) >= self.settings.concurrent_limit:
                return self._refuse(
                    conn, RejectReason.CONCURRENT_LIMIT, ErrorText.CONNECTION_LIMIT_EXCEED
                )
            if self._per_ip.get(ip, 0) >= limits.max_connections_per_ip:
                return self._refuse(conn, RejectReason.IP_LIMIT, ErrorText.IP_LIMIT_EXCEED)
            logger.info("[Signaling] Peer %s connected from %s", id, ip)

        client = Client(
            id,
            token,
            conn,
            ip,
            now,
            TokenBucket(limits.messages_per_second, float(limits.message_burst), updated=now),
        )
        self._remember(client)
        self.metrics.connections += 1
        actions.append(Send(conn, open_message()))
        actions.extend(self._drain_queue(id))
        return actions

    def disconnect(self, conn: int) -> list[Action]:
        """The socket `conn` closed. A socket already replaced by a reconnect changes nothing."""
        client = self._by_conn.get(conn)
        if client is not None:
            logger.info("[Signaling] Peer %s disconnected", client.id)
            self._forget(client)
        return []

    def send_failed(self, conn: int, message: ServerMessage) -> list[Action]:
        """Delivering `message` on `conn` failed: that peer is dead; tell the sender it left."""
        client = self._by_conn.get(conn)
        actions: list[Action] = [Close(conn, "send failed")]
        if client is not None:
            self._forget(client)
            if message.src and message.type is not MessageType.LEAVE:
                sender = self._clients.get(message.src)
                if sender is not None:
                    actions.append(
                        Send(sender.conn, ServerMessage(MessageType.LEAVE, client.id, message.src))
                    )
        return actions

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
            self._forget(client)
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
            message = ClientMessage.parse(text, max_id_length=limits.max_id_length)
        except ProtocolError as exc:
            self.metrics.reject(RejectReason.MALFORMED)
            return [Send(conn, error_message(f"Invalid message: {exc}"))]
        client.last_seen = now
        if message.type is MessageType.HEARTBEAT:
            return []
        return self._transmit(relayed(message, client.id), now)

    def receive_binary(self, conn: int) -> list[Action]:
        if conn not in self._by_conn:
            return []
        self.metrics.reject(RejectReason.BINARY_FRAME)
        return [Send(conn, error_message(ErrorText.BINARY_FRAME))]

    def _transmit(self, message: ServerMessage, now: float) -> list[Action]:
        assert message.src is not None
        destination = self._clients.get(message.dst) if message.dst else None
        if destination is not None:
            self.metrics.relayed[message.type.value] += 1
            logger.debug("[Signaling] Relay %s", message)
            return [Send(destination.conn, message)]
        if message.type is MessageType.LEAVE and message.dst is None:
            sender = self._clients.get(message.src)
            if sender is not None:
                logger.info("[Signaling] Peer %s left", sender.id)
                self._forget(sender)
                return [Close(sender.conn, "left")]
            return []
        if message.type in UNQUEUED_TYPES or message.dst is None:
            return []
        return self._enqueue(message, now)

    def _enqueue(self, message: ServerMessage, now: float) -> list[Action]:
        assert message.dst is not None and message.src is not None
        limits = self.settings.limits
        queue = self._queues.get(message.dst)
        size = len(queue.messages) if queue else 0
        if size >= limits.max_queued_per_peer or self._queued_total >= limits.max_queued_total:
            self.metrics.reject(RejectReason.QUEUE_FULL)
            sender = self._clients.get(message.src)
            return [Send(sender.conn, error_message(ErrorText.QUEUE_FULL))] if sender else []
        if queue is None:
            # `peer` stamps the queue when it is created and expires it as a whole.
            queue = self._queues[message.dst] = MessageQueue(created=now)
        queue.messages.append(message)
        self._queued_total += 1
        self.metrics.queued += 1
        logger.debug("[Signaling] Queued %s for absent %s", message.type, message.dst)
        return []

    def _drain_queue(self, id: str) -> list[Action]:
        queue = self._queues.pop(id, None)
        if queue is None:
            return []
        self._queued_total -= len(queue.messages)
        client = self._clients[id]
        for message in queue.messages:
            self.metrics.relayed[message.type.value] += 1
        return [Send(client.conn, message) for message in queue.messages]

    # -- time ----------

    def tick(self, now: float) -> list[Action]:
        """Drop silent peers and expire old queues; run every `cleanup_interval`."""
        actions: list[Action] = []
        for client in list(self._clients.values()):
            if now - client.last_seen >= self.settings.alive_timeout:
                logger.info("[Signaling] Peer %s timed out", client.id)
                self.metrics.timed_out += 1
                self._forget(client)
                self._drop_queue(client.id)
                actions.append(Close(client.conn, "alive timeout"))
        for dst, queue in list(self._queues.items()):
            if now - queue.created < self.settings.expire_timeout:
                continue
            del self._queues[dst]
            self._queued_total -= len(queue.messages)
            self.metrics.expired += len(queue.messages)
            told: set[str] = set()
            for message in queue.messages:
                assert message.src is not None
                if message.src in told:
                    continue
                told.add(message.src)
                sender = self._clients.get(message.src)
                if sender is not None:
                    expire = ServerMessage(MessageType.EXPIRE, dst, message.src)
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
        self._per_ip[client.ip] = self._per_ip.get(client.ip, 0) + 1

    def _forget(self, client: Client) -> None:
        if self._clients.get(client.id) is client:
            del self._clients[client.id]
            self.metrics.disconnections += 1
        self._by_conn.pop(client.conn, None)
        remaining = self._per_ip.get(client.ip, 0) - 1
        if remaining > 0:
            self._per_ip[client.ip] = remaining
        else:
            self._per_ip.pop(client.ip, None)

    def _drop_queue(self, id: str) -> None:
        queue = self._queues.pop(id, None)
        if queue is not None:
            self._queued_total -= len(queue.messages)
