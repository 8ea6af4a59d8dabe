"""The signaling server's I/O layer: picows sockets and timers around the sans-I/O Realm.

picows (Cython) parses frames and hands each one to `PeerSocket.on_ws_frame` as it is read,
with no task per connection; the realm decides, and what it sends is framed here and written
once per socket per turn of the loop. The server owns its tasks: the cleanup ticker, the
keeper of the reservation file and, in cluster mode, the registrations waiting for Redis (and
the cluster's own tasks, through `Cluster`). All are cancelled by `close()`.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import itertools
import logging
import os
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from bridge.config import ServerConfig
from bridge.errors import ConfigError, PortInUseError
from bridge.protocol.peerjs import ErrorText, error_message
from bridge.signaling.budgets import (
    PICOWS_FIRST_READ_BUFFER,
    ReaderProgress,
    SocketBudget,
    read_buffer_for,
)
from bridge.signaling.files import reservations_file
from bridge.signaling.metrics import RejectReason, render_cluster
from bridge.signaling.ports import describe_port_holder
from bridge.signaling.ranges import address_range
from bridge.signaling.realm import Action, Close, Forward, Realm, RealmSettings, Send
from bridge.signaling.reservation_file import ReservationFile
from bridge.signaling.reservations import SALT_BYTES, Claim
from bridge.signaling.routes import (
    HttpResponse,
    Router,
    WebSocketParams,
    forwarded_client,
    websocket_params,
)

if TYPE_CHECKING:
    from bridge.signaling.cluster import Cluster

logger = logging.getLogger("bridge.signaling")

#: Pending connections the kernel keeps for us (capped by net.core.somaxconn).
LISTEN_BACKLOG = 4096
#: Seconds a client has to send its upgrade request.
HANDSHAKE_TIMEOUT = 10.0
#: The kernel's receive buffer of each socket. picows doubles its own read buffer whenever a
#: read fills it and never shrinks it: left to autotuning (megabytes on loopback), a client
#: that blasts would make its socket hold that much of our memory for good. At 16 KiB (the
#: kernel doubles it) a fast sender of small frames grows its read buffer to 36 KiB; at
#: 64 KiB it grew to 147 KiB (a review's 1,000 sockets: 329 MiB). A large frame still needs
#: a buffer that holds it: `max_read_buffer_bytes_total` bounds those.
RECEIVE_BUFFER = 16 * 1024
#: The kernel's send buffer of each socket. Left to autotuning, a socket that never reads
#: made the kernel hold 3 MB of what we wrote for it before our own `max_unsent_bytes`
#: even began to count (measured on loopback); 64 KiB (the kernel doubles it) still holds
#: a join wave's OFFERs for a reader that keeps up.
SEND_BUFFER = 64 * 1024
#: Each socket's read buffer to begin with (picows's smallest).
READ_BUFFER = 2048
#: Frames up to `HARD_STOP` x max_frame_bytes are read (and answered with ERROR when over
#: max_frame_bytes); larger ones are cut as soon as their header says so. A frame being read
#: sets the size of its socket's read buffer, which picows keeps.
HARD_STOP = 2
#: Unsent bytes past which a socket counts as behind: what it holds then counts towards
#: `max_unsent_bytes_total`. Below it, a healthy reader's kernel buffer takes what we write.
BEHIND_BYTES = 16 * 1024
#: Seconds `close()` waits for sockets to go once told to.
CLOSE_TIMEOUT = 2.0
SERVER_HEADER = ("Server", "pathfinder-bridge")


class SendResult(enum.Enum):
    SENT = "sent"
    #: The peer is alive but has `max_unsent_bytes` not yet read: the message is dropped.
    REFUSED = "refused"
    #: The socket is closing or closed.
    DEAD = "dead"


def server_frame(data: bytes) -> bytes:
    """A text frame as a server sends it (FIN, unmasked)."""
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + data


class PeerSocket(WSListener):
    """One WebSocket at `{path}/peerjs`: hands what it reads to the server."""

    def __init__(self, server: SignalingServer, conn: int, params: WebSocketParams) -> None:
        self.server = server
        self.conn = conn
        self.params = params
        self.transport: WSTransport | None = None
        #: Frames sent this turn of the loop, not yet written, and their size.
        self.out: list[bytes] = []
        self.out_bytes = 0
        #: The address range the budgets count this socket in (`ranges.py`).
        self.range = ""
        #: Bytes handed to the transport so far: what it took from us is this less what
        #: the transport still holds.
        self.written = 0
        #: A message in fragments (rare: browsers and our clients send whole frames).
        self.fragments: bytearray | None = None
        self.fragments_binary = False

    def pause_writing(self) -> None:
        pass  # what a socket that is behind holds is counted when we send to it

    def resume_writing(self) -> None:
        self.server._caught_up(self)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.server._opened(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.server._frame(self, frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.server._gone(self)

    def close(self, code: WSCloseCode, reason: str) -> None:
        transport = self.transport
        if transport is None or transport.is_disconnected:
            return
        self.server._flush_socket(self)  # what was sent before the close goes first
        transport.send_close(code, reason[:100].encode())
        transport.disconnect()

    def abort(self) -> None:
        """Close without sending what is unsent: the peer does not read it."""
        self.out, self.out_bytes = [], 0
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.disconnect(graceful=False)


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
        self._sockets: dict[int, PeerSocket] = {}
        self._conn_ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        #: Registrations waiting for the cluster's answer (their sockets do not read meanwhile).
        self._claims: set[asyncio.Task[None]] = set()
        self._store_version = -1
        #: Sockets with frames not yet written (see `_send`).
        self._unflushed: list[PeerSocket] = []
        self._max_unsent = config.limits.max_unsent_bytes
        #: What sockets that are behind hold unsent, and what large frames grew read
        #: buffers to, each bounded in total (`bridge/signaling/budgets.py`).
        self._unsent = SocketBudget(config.limits.max_unsent_bytes_total)
        self._read_buffers = SocketBudget(config.limits.max_read_buffer_bytes_total)
        #: Sockets that are behind, and whether they take anything (`_recount_unsent`).
        self._progress = ReaderProgress()

    # -- lifecycle ----------

    async def start(self) -> None:
        if self.reservation_file is not None:
            # Before the port opens: no one may register while the old reservations are unknown.
            self.realm.store = self.reservation_file.load()
        if self.cluster is not None:
            # Likewise: the realm's salt and this instance's channel come first.
            await self.cluster.start()
        try:
            self._server = await ws_create_server(
                self._accept,
                self.config.host,
                self.config.port,
                ssl=self._ssl_context(),
                websocket_handshake_timeout=HANDSHAKE_TIMEOUT,
                # The realm enforces max_frame_bytes with an ERROR; this is the hard stop.
                max_frame_size=self.config.limits.max_frame_bytes * HARD_STOP,
                # PeerJS's frames are small (an OFFER 1-4 KB); the buffer grows for larger ones.
                # picows's default (16 KiB) cost 2,000 peers 28 MiB.
                read_buffer_init_size=READ_BUFFER,
                # asyncio's own transports: aiofastnet's (picows's default) cost 2,000 peers
                # 9.5 MiB more and relayed no faster here.
                use_aiofastnet=False,
                # A join storm opens hundreds of sockets at once; the default backlog (100)
                # overflows and each dropped SYN costs its client a 1 s retransmit.
                backlog=LISTEN_BACKLOG,
                logger_name="bridge.signaling.picows",
            )
        except OSError as exc:
            if self.cluster is not None:
                await self.cluster.close()
            if exc.errno == errno.EADDRINUSE:
                holder = describe_port_holder(self.config.port)
                raise PortInUseError(
                    f"port {self.config.port} is already in use{holder}; stop it, or pick "
                    "another port with --port N (or server.port in config.yaml)"
                ) from None
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
            for task in list(self._claims):
                task.cancel()
            await asyncio.gather(*self._claims, return_exceptions=True)
            # Every peer keeps its id for the grace period: the server went, not the peers.
            self.realm.shutdown(self._clock())
            sockets = list(self._sockets.values())
            for sock in sockets:
                sock.close(WSCloseCode.GOING_AWAY, "server shutting down")
            waits = [s.transport.wait_disconnected() for s in sockets if s.transport is not None]
            if waits:
                await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=CLOSE_TIMEOUT)
            for sock in list(self._sockets.values()):  # those that did not go: cut
                if sock.transport is not None:
                    sock.transport.disconnect(graceful=False)
                self._gone(sock)
            await self._server.wait_closed()
            self._server = None
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
                unsent_bytes=self._unsent.total,
                read_buffer_bytes=self._read_buffers.total,
            )
        figures = self.cluster.figures
        return self.realm.metrics.render(
            peers=self.realm.peer_count,
            queued_now=figures.queued_messages,
            queued_bytes=figures.queued_bytes,
            reservations=figures.reservations,
            unsent_bytes=self._unsent.total,
            read_buffer_bytes=self._read_buffers.total,
        ) + render_cluster(self.cluster.name, self.cluster.metrics, figures)

    def _peer_ids(self) -> list[str]:
        return self.cluster.peer_list if self.cluster is not None else self.realm.peer_ids()

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

    # -- HTTP and the upgrade ----------

    def _accept(self, request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        """Route a request: an HTTP answer, or a socket for the WebSocket endpoint."""
        target = request.path.decode("latin-1")
        response = self.router.route(
            request.method.decode("latin-1"), target, request.headers.get("Origin")
        )
        if response is None:
            sock = PeerSocket(self, next(self._conn_ids), websocket_params(target))
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_101_response(extra_headers=[SERVER_HEADER]), sock
            )
        return WSUpgradeResponseWithListener(http_response(response), None)

    # -- sockets ----------

    def _opened(self, sock: PeerSocket) -> None:
        assert sock.transport is not None
        self._sockets[sock.conn] = sock
        underlying = sock.transport.underlying_transport
        raw = underlying.get_extra_info("socket")
        if raw is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        # resume_writing() says when a socket that was behind has caught up.
        underlying.set_write_buffer_limits(high=BEHIND_BYTES, low=BEHIND_BYTES // 4)
        params = sock.params
        peer = sock.transport.underlying_transport.get_extra_info("peername")
        forwarded = sock.transport.request.headers.getall("X-Forwarded-For", [])
        ip = forwarded_client(str(peer[0]) if peer else "?", forwarded, self.config.trusted_proxies)
        sock.range = address_range(ip)
        if self.cluster is None:
            actions = self.realm.connect(
                sock.conn,
                id=params.id,
                token=params.token,
                key=params.key,
                ip=ip,
                now=self._clock(),
            )
            self._perform(actions)
            self._flush_socket(sock)  # OPEN (and what waited for it) now, not a turn later
            return
        admission = self.realm.admit(
            sock.conn, id=params.id, token=params.token, key=params.key, ip=ip, now=self._clock()
        )
        if not isinstance(admission, Claim):
            self._perform(admission)
            return
        # Nothing is read from this socket until Redis has answered: frames wait in the kernel.
        sock.transport.underlying_transport.pause_reading()
        task = asyncio.create_task(self._claim(sock, admission), name=f"claim-{sock.conn}")
        self._claims.add(task)
        task.add_done_callback(self._claims.discard)

    async def _claim(self, sock: PeerSocket, claim: Claim) -> None:
        assert self.cluster is not None and sock.transport is not None
        outcome = await self.cluster.claim(claim)
        self._perform(self.realm.claimed(claim, outcome, self._clock()))
        self._flush_socket(sock)
        if not sock.transport.is_disconnected:
            sock.transport.underlying_transport.resume_reading()

    def _frame(self, sock: PeerSocket, frame: WSFrame) -> None:
        assert sock.transport is not None
        if sock.transport.is_close_frame_sent:
            return  # closing (picows also gets here with a frame past the hard stop)
        kind = frame.msg_type
        size = frame.payload_size
        if size > PICOWS_FIRST_READ_BUFFER // 2 and not self._may_read(sock, size):
            return
        if kind is WSMsgType.TEXT and frame.fin and sock.fragments is None:
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                sock.close(WSCloseCode.INVALID_TEXT, "invalid UTF-8")
                return
            actions = self.realm.receive_text(sock.conn, text, self._clock())
            # The hot path, a relay: one Send that goes out.
            if len(actions) == 1 and type(actions[0]) is Send:
                if self._send(actions[0]) is not SendResult.SENT:
                    self._perform(actions)
            elif actions:
                self._perform(actions)
            if frame.last_in_buffer:
                # All this read held is handled: write what it made now, one write a socket,
                # rather than a turn of the loop later.
                self._flush()
        elif kind is WSMsgType.CLOSE:
            self._flush_socket(sock)
            sock.transport.send_close(frame.get_close_code())
            sock.transport.disconnect()
        elif kind in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            self._fragment(sock, frame)

    def _fragment(self, sock: PeerSocket, frame: WSFrame) -> None:
        """A message in several frames, or a binary one: assembled up to the hard stop."""
        kind = frame.msg_type
        if kind is WSMsgType.CONTINUATION:
            if sock.fragments is None:
                sock.close(WSCloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
                return
        elif sock.fragments is not None:
            sock.close(WSCloseCode.PROTOCOL_ERROR, "expected a continuation frame")
            return
        else:
            sock.fragments = bytearray()
            sock.fragments_binary = kind is WSMsgType.BINARY
        sock.fragments += frame.get_payload_as_memoryview()
        if not self._may_read(sock, len(sock.fragments)):
            sock.fragments = None
            return
        if len(sock.fragments) > self.config.limits.max_frame_bytes * HARD_STOP:
            self.realm.metrics.reject(RejectReason.FRAME_TOO_LARGE)
            sock.fragments = None
            sock.close(WSCloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        if not frame.fin:
            return
        data, binary = bytes(sock.fragments), sock.fragments_binary
        sock.fragments = None
        if binary:
            self._perform(self.realm.receive_binary(sock.conn))
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            sock.close(WSCloseCode.INVALID_TEXT, "invalid UTF-8")
            return
        self._perform(self.realm.receive_text(sock.conn, text, self._clock()))

    def _may_read(self, sock: PeerSocket, size: int) -> bool:
        """Whether a frame (or a fragmented message) of `size` bytes may be held for `sock`:
        it grows the socket's read buffer for good, within `max_read_buffer_bytes_total` for
        all sockets and a share of it for the socket's address range. When that is full,
        the largest and idlest holders (each holding at least as much) are closed to make
        room; when none is, this socket gets ERROR and is closed, which frees its buffer."""
        if size > self.config.limits.max_frame_bytes:
            return True  # refused anyway, and the socket closed (the realm's ERROR)
        need = read_buffer_for(size)
        budget = self._read_buffers
        now = self._clock()
        if need <= PICOWS_FIRST_READ_BUFFER:
            return True
        if need <= budget.held(sock.conn):
            budget.touch(sock.conn, now)
            return True
        if not budget.fits(sock.conn, sock.range, need):
            victims = budget.make_room(sock.conn, sock.range, need)
            if victims is None:
                self.realm.metrics.reject(RejectReason.READ_BUFFERS_FULL)
                logger.info("[Signaling] Refused a frame of %d bytes: read buffers are full", size)
                self._refuse_read(sock)
                return False
            for victim in victims:
                logger.info(
                    "[Signaling] Closed a socket holding %d bytes of read buffer to read "
                    "a frame of %d bytes",
                    budget.held(victim),
                    size,
                )
                budget.drop(victim)
                self.realm.metrics.reject(RejectReason.READ_BUFFERS_FULL)
                other = self._sockets.get(victim)
                if other is not None:
                    self._refuse_read(other)
        budget.hold(sock.conn, sock.range, need, now)
        return True

    def _refuse_read(self, sock: PeerSocket) -> None:
        self._send(Send(sock.conn, error_message(ErrorText.READ_BUFFERS_FULL)))
        sock.close(WSCloseCode.TRY_AGAIN_LATER, "server busy")

    def _caught_up(self, sock: PeerSocket) -> None:
        self._unsent.drop(sock.conn)
        self._progress.caught_up(sock.conn)

    def _gone(self, sock: PeerSocket) -> None:
        if self._sockets.pop(sock.conn, None) is None:
            return
        self._unsent.drop(sock.conn)
        self._progress.caught_up(sock.conn)
        self._read_buffers.drop(sock.conn)
        sock.out, sock.out_bytes = [], 0
        transport = sock.transport
        handshake = transport.close_handshake if transport is not None else None
        if (
            handshake is not None
            and handshake.sent is not None
            and handshake.sent.code is WSCloseCode.MESSAGE_TOO_BIG
        ):
            self.realm.metrics.reject(RejectReason.FRAME_TOO_LARGE)
        self._perform(self.realm.disconnect(sock.conn, now=self._clock()))

    # -- the realm's actions ----------

    def _perform(self, actions: list[Action]) -> None:
        """Carry out the realm's actions: sends now (written at the end of this turn),
        closes after what was sent before them, forwards to the cluster."""
        pending = actions
        while pending:
            follow_up: list[Action] = []
            for action in pending:
                if type(action) is Send:
                    result = self._send(action)
                    if result is SendResult.REFUSED:
                        follow_up.extend(self.realm.send_refused(action.conn, action.message))
                    elif result is SendResult.DEAD:
                        follow_up.extend(
                            self.realm.send_failed(action.conn, action.message, now=self._clock())
                        )
                elif isinstance(action, Forward):
                    assert self.cluster is not None
                    self.cluster.forward(action)
                elif isinstance(action, Close):
                    sock = self._sockets.get(action.conn)
                    if sock is not None:
                        sock.close(WSCloseCode.OK, action.reason)
            pending = follow_up
        version = self.realm.store.version
        if version != self._store_version:  # not on a relay: only when an id changed hands
            self._store_version = version
            self._reservations_changed()

    def _send(self, action: Send) -> SendResult:
        sock = self._sockets.get(action.conn)
        if sock is None:
            return SendResult.DEAD
        transport = sock.transport
        if transport is None or transport.is_close_frame_sent or transport.is_disconnected:
            return SendResult.DEAD
        # A reader this far behind gets nothing more, but keeps its socket and id: dropping
        # it would let whoever floods it free its id (issue 9).
        buffered = transport.underlying_transport.get_write_buffer_size()
        if buffered + sock.out_bytes > self._max_unsent:
            return SendResult.REFUSED
        # Framed now, written at the end of this turn of the loop: a read of many frames
        # for one peer costs one write, not one system call per message. Nothing awaits the
        # peer, so one slow peer never blocks another.
        frame = server_frame(action.text.encode())
        unsent = buffered + sock.out_bytes + len(frame)
        if unsent > BEHIND_BYTES:
            # Behind: what it holds counts against every other socket that is behind, and
            # against the others of its address range.
            if not self._unsent.fits(sock.conn, sock.range, unsent):
                return SendResult.REFUSED
            self._unsent.hold(sock.conn, sock.range, unsent)
        if not sock.out:
            if not self._unflushed:
                asyncio.get_running_loop().call_soon(self._flush)
            self._unflushed.append(sock)
        sock.out.append(frame)
        sock.out_bytes += len(frame)
        return SendResult.SENT

    def _flush(self) -> None:
        unflushed, self._unflushed = self._unflushed, []
        for sock in unflushed:
            self._flush_socket(sock)

    def _flush_socket(self, sock: PeerSocket) -> None:
        out = sock.out
        if not out:
            return
        sock.out, sock.out_bytes = [], 0
        transport = sock.transport
        if transport is None or transport.is_disconnected or transport.is_close_frame_sent:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        sock.written += len(data)
        transport.underlying_transport.write(data)

    def _perform_later(self, actions: list[Action]) -> None:
        """Actions that come from the cluster (no socket's frame is being handled)."""
        self._perform(actions)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.cleanup_interval)
            self._perform(self.realm.tick(self._clock()))
            self._recount_unsent()

    def _recount_unsent(self) -> None:
        """What sockets that were behind hold now (they read some, or went); those that
        took nothing for `stalled_reader_timeout` are closed: they are not reading, and
        would hold their part of `max_unsent_bytes_total` for as long as they heartbeat."""
        now = self._clock()
        for conn in self._unsent.conns():
            sock = self._sockets.get(conn)
            transport = sock.transport if sock is not None else None
            if sock is None or transport is None or transport.is_disconnected:
                self._unsent.drop(conn)
                self._progress.caught_up(conn)
                continue
            buffered = transport.underlying_transport.get_write_buffer_size()
            unsent = buffered + sock.out_bytes
            if unsent > BEHIND_BYTES:
                self._unsent.hold(conn, sock.range, unsent)
                self._progress.behind(conn, sock.written - buffered, now)
            else:
                self._unsent.drop(conn)
                self._progress.caught_up(conn)
        for conn in self._progress.stalled(now, self.config.limits.stalled_reader_timeout):
            self._progress.caught_up(conn)
            self._unsent.drop(conn)
            sock = self._sockets.get(conn)
            if sock is None:
                continue
            self.realm.metrics.reject(RejectReason.STALLED_READER)
            logger.info(
                "[Signaling] Closed a socket that read nothing for %.0f s while behind",
                self.config.limits.stalled_reader_timeout,
            )
            # Its id stays reserved for its token (realm.disconnect), as for any socket
            # that went: a reader that is flooded never frees its id by stalling.
            sock.abort()

    def _reservations_changed(self) -> None:
        if self.reservation_file is not None:
            self.reservation_file.changed()
        if self.cluster is not None:
            self.cluster.changed()


def http_response(response: HttpResponse) -> WSUpgradeResponse:
    headers = [("Content-Type", response.content_type), SERVER_HEADER, *response.headers]
    if response.status == 200:
        answer: WSUpgradeResponse = WSUpgradeResponse.create_ok_response(response.body, headers)
    else:
        answer = WSUpgradeResponse.create_error_response(response.status, response.body, headers)
    return answer
