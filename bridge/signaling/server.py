"""The signaling server's I/O layer: websockets sockets and timers around the sans-I/O Realm.

It owns four kinds of tasks: the websockets server (one handler per connection), the
cleanup ticker, the keeper of the reservation file, and short-lived closers for sockets
other than the current one. All are cancelled by `close()`.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import itertools
import logging
import os
import secrets
import ssl
import time
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.protocol import State

from bridge.config import ServerConfig
from bridge.errors import ConfigError, PortInUseError
from bridge.signaling.files import reservations_file
from bridge.signaling.metrics import RejectReason
from bridge.signaling.ports import describe_port_holder
from bridge.signaling.realm import Action, Close, Forward, Realm, RealmSettings, Send
from bridge.signaling.reservation_file import ReservationFile
from bridge.signaling.reservations import SALT_BYTES, Claim
from bridge.signaling.routes import Router, forwarded_client, websocket_params

if TYPE_CHECKING:
    from bridge.signaling.cluster import Cluster

logger = logging.getLogger("bridge.signaling")

#: Pending connections the kernel keeps for us (capped by net.core.somaxconn).
LISTEN_BACKLOG = 4096


class SendResult(enum.Enum):
    SENT = "sent"
    #: The peer is alive but has `max_unsent_bytes` not yet read: the message is dropped.
    REFUSED = "refused"
    #: The socket is closing or closed.
    DEAD = "dead"


class SignalingServer:
    """A PeerJS-compatible signaling server. Use `async with SignalingServer(config):`."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self._clock = clock
        clustered = bool(config.redis_url)
        # A server on a random port cannot be the same server after a restart: nothing to keep.
        # A cluster keeps its reservations in Redis.
        self.reservation_file = (
            ReservationFile(
                reservations_file(config),
                grace=config.reservation_grace,
                max_reservations=config.limits.max_reservations,
                clock=clock,
                wall_clock=wall_clock,
            )
            if config.reservation_grace > 0 and config.port != 0 and not clustered
            else None
        )
        self.realm = Realm(
            RealmSettings(
                key=config.key,
                alive_timeout=config.alive_timeout,
                expire_timeout=config.expire_timeout,
                concurrent_limit=config.concurrent_limit,
                limits=config.limits,
                reservation_grace=config.reservation_grace,
                clustered=clustered,
            )
        )
        self.cluster: Cluster | None = None
        if clustered:
            # Imported here: one-process mode needs no Redis client.
            try:
                from bridge.signaling.cluster import Cluster
            except ModuleNotFoundError as exc:
                raise ConfigError(
                    f"server.redis_url: cluster mode needs the Redis client ({exc.name} is "
                    "missing): pip install 'pathfinder-bridge[cluster]'"
                ) from None
            from bridge.signaling.cluster_state import SharedReservations

            name = config.instance_name or Cluster.default_name(config.port or os.getpid())
            store = SharedReservations(
                Cluster.new_incarnation(name),
                secrets.token_bytes(SALT_BYTES),
                grace=config.reservation_grace,
            )
            self.realm.store = store
            self.cluster = Cluster(
                config, self.realm, store, name=name, perform=self._perform_later, clock=clock
            )
        self._peer_list: list[str] = []
        self.router = Router(
            path=config.path,
            key=config.key,
            allowed_origins=config.allowed_origins,
            allow_discovery=config.allow_discovery,
            peer_ids=self._peer_ids,
            metrics_text=self.metrics_text,
        )
        self._sockets: dict[int, ServerConnection] = {}
        self._conn_ids = itertools.count(1)
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._closers: set[asyncio.Task[None]] = set()
        #: Sockets with frames not yet written, and how many bytes (see `_send`).
        self._unflushed: dict[ServerConnection, int] = {}

    # -- lifecycle ----------

    async def start(self) -> None:
        if self.reservation_file is not None:
            # Before the port opens: no one may register while the old reservations are unknown.
            self.realm.store = self.reservation_file.load()
        if self.cluster is not None:
            # Likewise: the realm's salt and this instance's channel come first.
            await self.cluster.start()
        try:
            self._server = await serve(
                self._handle,
                self.config.host,
                self.config.port,
                process_request=self._process_request,
                # The realm enforces max_frame_bytes with an ERROR; this is the hard stop.
                max_size=self.config.limits.max_frame_bytes * 4,
                ssl=self._ssl_context(),
                server_header="pathfinder-bridge",
                # No permessage-deflate, as `peer` (ws) by default: signaling frames are small, and
                # compressing each one cost more CPU per relay than anything else in the server.
                compression=None,
                close_timeout=2,
                # A join storm opens hundreds of sockets at once; the default backlog (100)
                # overflows and each dropped SYN costs its client a 1 s retransmit.
                backlog=LISTEN_BACKLOG,
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                holder = describe_port_holder(self.config.port)
                if self.cluster is not None:
                    await self.cluster.close()
                raise PortInUseError(
                    f"port {self.config.port} is already in use{holder}; stop it, or pick "
                    "another port with --port N (or server.port in config.yaml)"
                ) from None
            if self.cluster is not None:
                await self.cluster.close()
            raise
        self._ticker = asyncio.create_task(self._tick_forever(), name="signaling-ticker")
        if self.reservation_file is not None:
            self._keeper = asyncio.create_task(
                self.reservation_file.keep(self.realm.store), name="signaling-reservations"
            )

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._closers):
            task.cancel()
        await asyncio.gather(*self._closers, return_exceptions=True)
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        if self.reservation_file is not None:
            self.reservation_file.save(self.realm.store)
        if self.cluster is not None:
            # After the sockets: their peers' releases are written on the way out.
            await self.cluster.close()

    async def __aenter__(self) -> SignalingServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None, "call start() first"
        for sock in self._server.sockets:
            return int(sock.getsockname()[1])
        raise RuntimeError("server has no socket")  # pragma: no cover

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls_cert else "http"
        return f"{scheme}://{self.config.host}:{self.port}{self.config.path.rstrip('/')}"

    def metrics_text(self) -> str:
        if self.cluster is None:
            return self.realm.metrics.render(
                peers=self.realm.peer_count,
                queued_now=self.realm.queued_count,
                queued_bytes=self.realm.queued_bytes,
                reservations=self.realm.store.count(),
            )
        figures = self.cluster.figures
        return self.realm.metrics.render(
            peers=self.realm.peer_count,
            queued_now=figures.queued_messages,
            queued_bytes=figures.queued_bytes,
            reservations=figures.reservations,
        ) + render_cluster_metrics(self.cluster)

    def _peer_ids(self) -> list[str]:
        return self._peer_list if self.cluster is not None else self.realm.peer_ids()

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls_cert:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"server.tls_cert: cannot load {self.config.tls_cert} "
                f"with key {self.config.tls_key}: {exc}"
            ) from None
        return context

    # -- HTTP ---------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self.cluster is not None:
            # Realm-wide answers are read from Redis when asked for.
            route = request.path.split("?")[0].rstrip("/")
            if route.endswith("/peers") and self.config.allow_discovery:
                self._peer_list = await self.cluster.peer_ids()
            elif route.endswith("/metrics"):
                await self.cluster.renew()
        response = self.router.route(
            getattr(request, "method", "GET"), request.path, request.headers.get("Origin")
        )
        if response is None:
            return None
        headers = Headers(
            [
                ("Content-Type", response.content_type),
                ("Content-Length", str(len(response.body))),
                ("Connection", "close"),
                *response.headers,
            ]
        )
        status = HTTPStatus(response.status)
        return Response(status.value, status.phrase, headers, response.body)

    # -- WebSocket ------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = next(self._conn_ids)
        self._sockets[conn] = ws
        params = websocket_params(ws.request.path if ws.request else "")
        ip = client_address(ws, self.config.trusted_proxies)
        try:
            if self.cluster is None:
                actions = self.realm.connect(
                    conn, id=params.id, token=params.token, key=params.key, ip=ip, now=self._clock()
                )
            else:
                admission = self.realm.admit(
                    conn, id=params.id, token=params.token, key=params.key, ip=ip
                )
                if isinstance(admission, Claim):
                    outcome = await self.cluster.claim(admission)
                    actions = self.realm.claimed(admission, outcome, self._clock())
                else:
                    actions = admission
            self._reservations_changed()
            if await self._perform(actions, current=conn):
                return
            async for frame in ws:
                if isinstance(frame, str):
                    actions = self.realm.receive_text(conn, frame, self._clock())
                else:
                    actions = self.realm.receive_binary(conn)
                if not actions:
                    continue
                # The hot path (a relay) sends without awaiting anything.
                if all(isinstance(action, Send) for action in actions):
                    closes = self._send_all(actions)
                    if not closes:
                        continue
                    actions = list(closes)
                if await self._perform(actions, current=conn):
                    return
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                self.realm.metrics.reject(RejectReason.FRAME_TOO_LARGE)
        finally:
            self._sockets.pop(conn, None)
            self.realm.disconnect(conn, now=self._clock())
            self._reservations_changed()

    async def _perform(self, actions: list[Action], *, current: int) -> bool:
        """Carry out the realm's actions; return True when `current` must stop."""
        closes = self._send_all(actions)
        stop = False
        for action in closes:
            if action.conn == current:
                stop = True
                ws = self._sockets.get(current)
                if ws is not None:
                    await ws.close(CloseCode.NORMAL_CLOSURE, action.reason[:100])
            else:
                self._close_later(action.conn, action.reason)
        return stop

    def _send_all(self, actions: list[Action]) -> list[Close]:
        """Every Send now, without awaiting anyone; the Closes are left to the caller."""
        closes: list[Close] = []
        pending = actions
        while pending:
            follow_up: list[Action] = []
            for action in pending:
                if isinstance(action, Forward):
                    assert self.cluster is not None
                    self.cluster.forward(action)
                elif isinstance(action, Send):
                    result = self._send(action)
                    if result is SendResult.REFUSED:
                        follow_up.extend(self.realm.send_refused(action.conn, action.message))
                    elif result is SendResult.DEAD:
                        follow_up.extend(
                            self.realm.send_failed(action.conn, action.message, now=self._clock())
                        )
                else:
                    closes.append(action)
            pending = follow_up
        return closes

    def _send(self, action: Send) -> SendResult:
        ws = self._sockets.get(action.conn)
        if ws is None or ws.protocol.state is not State.OPEN:
            return SendResult.DEAD
        pending = self._unflushed.get(ws, 0)
        # A reader this far behind gets nothing more, but keeps its socket and id: dropping
        # it would let whoever floods it free its id (issue 9).
        if ws.transport.get_write_buffer_size() + pending > self.config.limits.max_unsent_bytes:
            return SendResult.REFUSED
        # Framed now, written at the end of this turn of the loop: a read of many frames
        # for one peer costs one write, not one system call per message. Nothing awaits the
        # peer, so one slow peer never blocks another.
        data = action.text.encode()
        ws.protocol.send_text(data)
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush)
        self._unflushed[ws] = pending + len(data)
        return SendResult.SENT

    def _flush(self) -> None:
        unflushed, self._unflushed = self._unflushed, {}
        for ws in unflushed:
            chunks = ws.protocol.data_to_send()
            if all(chunks):
                if chunks and not ws.transport.is_closing():
                    ws.transport.write(b"".join(chunks))
            elif not ws.transport.is_closing():  # pragma: no cover - closed meanwhile
                # An empty chunk is the protocol's end of stream: half-close, as websockets does.
                ws.transport.write(b"".join(chunks))
                if ws.transport.can_write_eof():
                    ws.transport.write_eof()
                else:
                    ws.transport.close()

    def _perform_later(self, actions: list[Action]) -> None:
        """Actions that come from the cluster (no socket's handler is running them)."""
        for close in self._send_all(actions):
            self._close_later(close.conn, close.reason)
        self._reservations_changed()

    def _close_later(self, conn: int, reason: str) -> None:
        ws = self._sockets.get(conn)
        if ws is None:
            return
        task = asyncio.create_task(
            ws.close(CloseCode.NORMAL_CLOSURE, reason[:100]), name=f"close-{conn}"
        )
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.cleanup_interval)
            actions = self.realm.tick(self._clock())
            self._reservations_changed()
            await self._perform(actions, current=0)

    def _reservations_changed(self) -> None:
        if self.reservation_file is not None:
            self.reservation_file.changed()
        if self.cluster is not None:
            self.cluster.changed()


def client_address(ws: ServerConnection, trusted_proxies: tuple[str, ...]) -> str:
    peer = str(ws.remote_address[0]) if ws.remote_address else "?"
    forwarded = ws.request.headers.get_all("X-Forwarded-For") if ws.request else []
    return forwarded_client(peer, forwarded, trusted_proxies)


def render_cluster_metrics(cluster: Cluster) -> str:
    """The cluster's part of /metrics (Prometheus text)."""
    metrics, figures = cluster.metrics, cluster.figures
    rows = [
        ("pathfinder_signaling_cluster_instance_info", "gauge",
         "This instance of the cluster, named by the name label.",
         [(f'{{name="{cluster.name}"}}', 1)]),
        ("pathfinder_signaling_cluster_instances", "gauge",
         "Instances of the cluster alive, as of the last lease renewal.",
         [("", figures.instances)]),
        ("pathfinder_signaling_cluster_realm_peers", "gauge",
         "Peers connected to any instance of the realm, as of the last lease renewal.",
         [("", figures.realm_peers)]),
        ("pathfinder_signaling_cluster_redis_up", "gauge",
         "1 while Redis answers, 0 while this instance relays between its own peers only.",
         [("", 1 if metrics.up else 0)]),
        ("pathfinder_signaling_cluster_redis_round_trips_total", "counter",
         "Round trips to Redis (one pipeline of calls each).",
         [("", metrics.round_trips)]),
        ("pathfinder_signaling_cluster_redis_errors_total", "counter",
         "Calls to Redis that failed (unreachable, timed out, refused).",
         [("", metrics.errors)]),
        ("pathfinder_signaling_cluster_redis_outages_total", "counter",
         "Times Redis became unreachable for this instance.",
         [("", metrics.outages)]),
        ("pathfinder_signaling_cluster_relays_total", "counter",
         "Messages relayed across instances, by direction.",
         [('{direction="sent"}', metrics.sent), ('{direction="received"}', metrics.received)]),
    ]  # fmt: skip
    lines: list[str] = []
    for name, kind, help_text, samples in rows:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{labels} {value:g}" for labels, value in samples]
    return "\n".join(lines) + "\n"
