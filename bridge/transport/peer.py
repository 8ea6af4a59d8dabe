"""A Python PeerJS peer: registers an id, connects to other peers and accepts their connections.

`Peer` owns its signaling client, its data connections, and one task per connection that
negotiates it and reaps it when it closes; `close()` cancels and closes all of them.

Incoming OFFERs are a resource anyone can spend, so they are bounded before anything is
built: connections in all and per remote id, and negotiations under way through
`NegotiationAdmission` (caps, pacing, fairness to newcomers). When every connection is taken,
a newcomer gets the place of one its owner says may go (`make_room`: the presenter's
connections that never joined, say), else of an extra connection of an id that holds
several; only then is it refused. A refused OFFER gets no answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import Any

from bridge.config import ClientConfig, IceServerConfig
from bridge.errors import ProtocolError
from bridge.protocol.binarypack import PartialBudget
from bridge.protocol.peerjs import ClientMessage, MessageType, ServerMessage, is_valid_id
from bridge.protocol.serialization import Serialization
from bridge.transport import memory
from bridge.transport.admission import AdmissionLimits, NegotiationAdmission
from bridge.transport.dataconnection import (
    PARTIAL_BYTES,
    ConnectionLimits,
    ConnectionState,
    DataConnection,
    DataConnectionError,
    new_connection_id,
)
from bridge.transport.endpoint import SignalingEndpoint
from bridge.transport.signaling_client import SignalingClient, SignalingError, SignalingState

logger = logging.getLogger("bridge.transport")


class PeerUnavailableError(DataConnectionError):
    """The signaling server answered our OFFER with EXPIRE: the remote id is not there, or
    (on our server) it is too far behind to take more right now.

    `waited` is how long the EXPIRE took: a server expires an OFFER to an absent id only
    after its expire timeout (seconds), while a busy one bounces it at once.
    """

    def __init__(self, message: str, *, waited: float) -> None:
        super().__init__(message)
        self.waited = waited


class Peer:
    def __init__(
        self,
        endpoint: SignalingEndpoint,
        peer_id: str | None = None,
        *,
        ice_servers: tuple[IceServerConfig, ...] = (),
        heartbeat_interval: float = 5.0,
        connect_timeout: float = 15.0,
        max_incoming: int = 256,
        ice_transport_policy: str = "all",
        token: str | None = None,
        accept_incoming: bool = True,
        limits: ConnectionLimits | None = None,
        admission: AdmissionLimits | None = None,
        max_connections: int = 256,
        max_connections_per_peer: int = 4,
        keep_id: bool = False,
        partial_budget: PartialBudget | None = None,
    ) -> None:
        """`partial_budget`: the bytes of chunked messages not yet whole that every data
        connection of this peer shares; its owner may share one among several peers (a swarm
        worker's attendees). By default this peer has one of its own."""
        self.endpoint = endpoint
        self.id = peer_id or ""
        self.ice_servers = ice_servers
        self.ice_transport_policy = ice_transport_policy
        self.accept_incoming = accept_incoming
        self.limits = limits or ConnectionLimits()
        self.partial_budget = (
            partial_budget if partial_budget is not None else PartialBudget(PARTIAL_BYTES)
        )
        self.admission = NegotiationAdmission(admission or AdmissionLimits())
        self.max_connections = max_connections
        self.max_connections_per_peer = max_connections_per_peer
        self.keep_id = keep_id
        #: Called with every change of the signaling registration (TAKEN, OPEN, ...).
        self.on_signaling_state: Callable[[SignalingState], None] | None = None
        #: Asked, when every connection is taken, which one may go to make room for an OFFER
        #: from the given remote id (a connection id, or None).
        self.make_room: Callable[[str], str | None] | None = None
        #: Told of every OFFER refused because every connection is taken (its remote id).
        self.on_full: Callable[[str], None] | None = None
        #: Remote ids whose OFFERs are refused (kicked by the owner).
        self.banned: set[str] = set()
        self.refused_incoming = 0
        self.connect_timeout = connect_timeout
        self._heartbeat_interval = heartbeat_interval
        # The same id and token re-register after a restart (the server replaces the socket).
        self._token = token or secrets.token_hex(8)
        self._signaling: SignalingClient | None = None
        self._connections: dict[str, DataConnection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._expired: dict[str, asyncio.Event] = {}
        self.incoming: asyncio.Queue[DataConnection] = asyncio.Queue(max_incoming)
        self.signaling_state = SignalingState.CONNECTING

    @classmethod
    def for_client(
        cls,
        endpoint: SignalingEndpoint,
        client: ClientConfig,
        peer_id: str | None = None,
        *,
        token: str | None = None,
        accept_incoming: bool = True,
        limits: ConnectionLimits | None = None,
        keep_id: bool = False,
        partial_budget: PartialBudget | None = None,
    ) -> Peer:
        """A peer with the ICE, heartbeat and timeout settings of `client` (config.yaml); a
        budget of `client.max_partial_bytes` unless its owner shares one."""
        return cls(
            endpoint,
            peer_id,
            ice_servers=client.ice_servers,
            ice_transport_policy=client.ice_transport_policy,
            heartbeat_interval=client.heartbeat_interval,
            connect_timeout=client.connect_timeout,
            token=token,
            accept_incoming=accept_incoming,
            limits=limits,
            keep_id=keep_id,
            max_connections=client.max_connections,
            partial_budget=partial_budget
            if partial_budget is not None
            else PartialBudget(client.max_partial_bytes),
        )

    # -- lifecycle ----------

    async def open(self) -> str:
        """Register with the signaling server (asking it for an id if we have none)."""
        if not self.id:
            self.id = await asyncio.to_thread(self._fetch_id)
        self._signaling = SignalingClient(
            self.endpoint,
            self.id,
            self._token,
            self._on_signal,
            heartbeat_interval=self._heartbeat_interval,
            connect_timeout=self.connect_timeout,
            on_state=self._on_signaling_state,
            keep_id=self.keep_id,
        )
        await self._signaling.open()
        return self.id

    def _on_signaling_state(self, state: SignalingState) -> None:
        self.signaling_state = state
        if self.on_signaling_state is not None:
            self.on_signaling_state(state)

    def _fetch_id(self) -> str:
        try:
            with urllib.request.urlopen(self.endpoint.id_url(), timeout=self.connect_timeout) as r:
                peer_id = str(r.read(200).decode()).strip()
        except (OSError, urllib.error.URLError) as exc:
            raise SignalingError(
                f"cannot reach the signaling server at {self.endpoint} ({exc}): check it runs "
                "and the --server URL"
            ) from None
        if not is_valid_id(peer_id):
            raise SignalingError("the signaling server gave an invalid id")
        return peer_id

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in list(self._connections.values()):
            await connection.close()
        self._connections.clear()
        if self._signaling is not None:
            await self._signaling.close()

    async def __aenter__(self) -> Peer:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connections(self) -> list[DataConnection]:
        return list(self._connections.values())

    @property
    def reconnects(self) -> int:
        return self._signaling.reconnects if self._signaling else 0

    # -- connecting ----------

    async def connect(
        self,
        remote_id: str,
        *,
        serialization: Serialization = Serialization.BINARY,
        metadata: Any = None,
        open_timeout: float | None = None,
    ) -> DataConnection:
        """Open a data connection to `remote_id` and wait until its channel is open."""
        connection = DataConnection(
            remote_id,
            new_connection_id(),
            ice_servers=self.ice_servers,
            ice_transport_policy=self.ice_transport_policy,
            serialization=serialization,
            metadata=metadata,
            limits=self.limits,
            partial_budget=self.partial_budget,
        )
        self._connections[connection.connection_id] = connection
        expired = self._expired.setdefault(remote_id, asyncio.Event())
        expired.clear()
        self._spawn(self._watch(connection), f"watch-{connection.connection_id}")
        offered_at = time.monotonic()
        await connection.offer(self._signal_sender(remote_id))
        waiter = asyncio.ensure_future(connection.wait_open(open_timeout or self.connect_timeout))
        gone = asyncio.ensure_future(expired.wait())
        try:
            done, _ = await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        if waiter in done and waiter.exception() is None:
            return connection
        await self._drop(connection)
        if expired.is_set():
            raise PeerUnavailableError(
                f"no session {remote_id!r} on the signaling server: check the join code and that "
                "the presenter is running and uses the same --server",
                waited=time.monotonic() - offered_at,
            )
        error = waiter.exception() if waiter.done() and not waiter.cancelled() else None
        raise error or DataConnectionError(f"the connection to {remote_id} failed")

    def _signal_sender(self, remote_id: str) -> Any:
        async def send(kind: str, payload: dict[str, Any]) -> None:
            assert self._signaling is not None
            message = ClientMessage(MessageType(kind), remote_id, payload)
            await self._signaling.send(message, wait=self.connect_timeout)

        return send

    # -- signaling dispatch ----------

    def _on_signal(self, message: ServerMessage) -> None:
        payload = message.payload if isinstance(message.payload, dict) else {}
        connection_id = payload.get("connectionId")
        src = message.src or ""
        if message.type is MessageType.OFFER:
            self._accept(src, payload)
        elif message.type is MessageType.ANSWER:
            connection = self._connections.get(str(connection_id))
            sdp = payload.get("sdp")
            if connection is not None and connection.peer == src and isinstance(sdp, dict):
                self._spawn(connection.handle_answer(str(sdp.get("sdp", ""))), "answer")
        elif message.type is MessageType.CANDIDATE:
            connection = self._connections.get(str(connection_id))
            candidate = payload.get("candidate")
            if connection is not None and connection.peer == src and isinstance(candidate, dict):
                self._spawn(connection.handle_candidate(candidate), "candidate")
        elif message.type is MessageType.EXPIRE:
            logger.info("[Transport] peer %s is not on the signaling server", src)
            self._expired.setdefault(src, asyncio.Event()).set()
        elif message.type is MessageType.LEAVE:
            logger.info("[Transport] peer %s left", src)
            for connection in list(self._connections.values()):
                if connection.peer == src:
                    self._spawn(self._drop(connection), "leave")
        elif message.type is MessageType.ERROR:
            logger.warning("[Transport] signaling server error: %s", message.error_text)

    def _accept(self, src: str, payload: dict[str, Any]) -> None:
        if not self.accept_incoming:
            # An attendee talks to its presenter only: nobody else may open a channel to it.
            self.refused_incoming += 1
            logger.warning("[Transport] Refused a connection from %s: this peer accepts none", src)
            return
        connection_id = payload.get("connectionId")
        sdp = payload.get("sdp")
        if not isinstance(connection_id, str) or not isinstance(sdp, dict):
            logger.warning("[Transport] ignored a malformed OFFER from %s", src)
            return
        if payload.get("type", "data") != "data":
            logger.info("[Transport] ignored a media call from %s", src)
            return
        try:
            serialization = Serialization.parse(payload.get("serialization"))
        except ProtocolError as exc:
            logger.warning("[Transport] refused an OFFER from %s: %s", src, exc)
            return
        refusal = self._connection_refusal(src, connection_id)
        victim = None
        if not refusal and len(self._connections) >= self.max_connections:
            victim = self._room_for(src)
            if victim is None:
                refusal = f"{self.max_connections} connections already"
                if self.on_full is not None:
                    self.on_full(src)
        admission = None
        if not refusal:
            admission = self.admission.offer(connection_id, src, time.monotonic())
            refusal = admission.reason
        if refusal or admission is None:
            self.refused_incoming += 1
            logger.info("[Transport] Refused an OFFER from %s: %s", src, refusal)
            return
        if victim is not None and victim in self._connections:
            dropped = self._connections[victim]
            logger.info(
                "[Transport] Dropped a connection of %s to make room for %s", dropped.peer, src
            )
            self._let_go(dropped)
        if admission.evict is not None and admission.evict in self._connections:
            logger.info("[Transport] Dropped a slow negotiation to make room for %s", src)
            self._spawn(self._drop(self._connections[admission.evict]), "evicted")
        if connection_id in self._connections:
            self._spawn(self._drop(self._connections[connection_id]), "replaced")
        connection = DataConnection(
            src,
            connection_id,
            ice_servers=self.ice_servers,
            ice_transport_policy=self.ice_transport_policy,
            serialization=serialization,
            reliable=bool(payload.get("reliable", True)),
            metadata=payload.get("metadata"),
            limits=self.limits,
            partial_budget=self.partial_budget,
        )
        self._connections[connection_id] = connection
        self._spawn(self._answer(connection, str(sdp.get("sdp", ""))), f"answer-{connection_id}")

    def _connection_refusal(self, src: str, connection_id: str) -> str:
        """Why an OFFER is refused before any negotiation ('' when it may go on; a full
        table is decided after, by `_room_for`)."""
        if src in self.banned:
            return "this peer was sent away"
        existing = self._connections.get(connection_id)
        if existing is not None and existing.peer != src:
            return "its connection id belongs to another peer"
        same_peer = sum(1 for c in self._connections.values() if c.peer == src)
        if same_peer >= self.max_connections_per_peer:
            return f"{same_peer} connections from this peer already"
        return ""

    def _room_for(self, src: str) -> str | None:
        """The connection that may go so that an OFFER from `src` fits: the owner's choice,
        else the oldest connection of an id that holds several."""
        if self.make_room is not None:
            victim = self.make_room(src)
            if victim is not None and victim in self._connections:
                return victim
        held: dict[str, int] = {}
        for connection in self._connections.values():
            held[connection.peer] = held.get(connection.peer, 0) + 1
        for connection_id, connection in self._connections.items():  # oldest first
            if held[connection.peer] > 1:
                return connection_id
        return None

    def disconnect_peer(self, remote_id: str) -> int:
        """Close every connection of `remote_id` and refuse its OFFERs from now on."""
        self.banned.add(remote_id)
        doomed = [c for c in self._connections.values() if c.peer == remote_id]
        for connection in doomed:
            self._let_go(connection)
        return len(doomed)

    async def _answer(self, connection: DataConnection, sdp: str) -> None:
        self._spawn(self._watch(connection), f"watch-{connection.connection_id}")
        try:
            await connection.answer(sdp, self._signal_sender(connection.peer))
            await connection.wait_open(self.connect_timeout)
        except (DataConnectionError, SignalingError, ValueError) as exc:
            logger.warning(
                "[Transport] incoming connection from %s failed: %s", connection.peer, exc
            )
            await self._drop(connection)
            return
        self.admission.finished(connection.connection_id, opened=True)
        try:
            self.incoming.put_nowait(connection)
        except asyncio.QueueFull:
            logger.warning(
                "[Transport] too many unaccepted connections; refused %s", connection.peer
            )
            await self._drop(connection)

    async def accept(self) -> DataConnection:
        return await self.incoming.get()

    # -- ownership ----------

    async def _watch(self, connection: DataConnection) -> None:
        """Reap a connection once it closes, from whichever side."""
        await connection.closed.wait()
        await self._drop(connection)

    async def _drop(self, connection: DataConnection) -> None:
        self._forget(connection)
        with contextlib.suppress(Exception):
            await connection.close()
        memory.heap.note_closed()

    def _forget(self, connection: DataConnection) -> None:
        if self._connections.get(connection.connection_id) is connection:
            del self._connections[connection.connection_id]
            if connection.state is not ConnectionState.OPEN:
                self.admission.finished(connection.connection_id, opened=False)

    def _let_go(self, connection: DataConnection) -> None:
        """Out of the table at once (its place is free now), closed in the background."""
        self._forget(connection)
        self._spawn(self._drop(connection), f"drop-{connection.connection_id}")

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("[Transport] task %s failed: %r", task.get_name(), task.exception())
