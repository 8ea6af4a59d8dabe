"""Live Sessions over real peers: the I/O wrapped around PresenterSession and AttendeeSession.

`LivePresenter` owns a Peer, one reader task per attendee connection and a ticker;
`LiveAttendee` owns a Peer, its connection to the presenter, a reader, a ticker and a supervisor
that reconnects it. Both carry out the outputs of their sans-I/O session and never let one slow
attendee block another. Their connections take only what a Live Session needs
(`PRESENTER_READS`, `ATTENDEE_READS`): small messages, a bounded rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bridge.backoff import backoff
from bridge.config import ClientConfig
from bridge.errors import BridgeError
from bridge.protocol.binarypack import PartialBudget
from bridge.protocol.crypto import PresenterKey
from bridge.protocol.events import AttendeeMode, AttendeeState, SessionEvent
from bridge.protocol.joincode import JoinCode, new_session_id
from bridge.protocol.proof import ChannelBinding
from bridge.session import attendee as att
from bridge.session import presenter as pres
from bridge.session.session_file import PresenterIdentity
from bridge.transport import memory
from bridge.transport.dataconnection import ConnectionLimits, DataConnection, DataConnectionError
from bridge.transport.endpoint import SignalingEndpoint
from bridge.transport.peer import Peer, PeerUnavailableError
from bridge.transport.signaling_client import IdTakenError, SignalingError, SignalingState

logger = logging.getLogger("bridge.session")

TICK = 0.5
#: An EXPIRE that answers our OFFER sooner than this is the server bouncing it off a busy
#: presenter (our server does so at once); an absent id expires only after the server's
#: expire timeout (5 s by default, 1 s at the least in practice).
BUSY_EXPIRE_WITHIN = 0.5
#: Seconds between two warnings that the presenter refuses newcomers because it is full.
FULL_WARNING_INTERVAL = 10.0

#: The largest session message either side accepts, chunks joined. Live Sessions messages are
#: small objects; the largest real Pathfinder event seen was 21 KB (a step with a long value,
#: sent chunked). 128 KiB leaves six times that, and holds a `targetValue` at its 64 K-character
#: limit (EventLimits.max_value) when it is ASCII. Far below the transport's 4 MiB default: a
#: 4 MB BinaryPack message of empty arrays cost the presenter 300-550 MB before these limits.
SESSION_MESSAGE_BYTES = 128 * 1024
#: What the presenter reads from each attendee: a heartbeat echo every 5 s, a status per event,
#: the odd mode change, hand or chat. 20 frames/s (bursts of 100) is far above that.
PRESENTER_READS = ConnectionLimits(
    max_message_bytes=SESSION_MESSAGE_BYTES,
    max_depth=16,
    max_items=4096,
    frames_per_second=20.0,
    frame_burst=100.0,
    # A session message's chunks come one after another: one in flight, for a few seconds.
    max_partial_messages=1,
    partial_stale_after=10.0,
)
#: What an attendee reads from its presenter: events at the pace of clicks, heartbeats, and a
#: sync_state on (re)join; a message over 16,300 bytes is several frames.
ATTENDEE_READS = ConnectionLimits(
    max_message_bytes=SESSION_MESSAGE_BYTES,
    max_depth=16,
    max_items=4096,
    frames_per_second=100.0,
    frame_burst=400.0,
    max_partial_messages=1,
    partial_stale_after=10.0,
)


def now_ms() -> int:
    return int(time.time() * 1000)


class SessionError(BridgeError):
    """The session could not start, or ended in failure."""


class _Tasks:
    """A set of owned tasks: each is logged if it fails and cancelled by `cancel_all`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("[SessionManager] %s failed: %r", task.get_name(), task.exception())

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def binding_to_presenter(peer: Peer, connection: DataConnection) -> ChannelBinding:
    """How an attendee names its open connection to the presenter, for the bound proof: its
    own peer id, the presenter's, and both DTLS fingerprints."""
    ours, theirs = connection.fingerprints
    return ChannelBinding(peer.id, connection.peer, ours, theirs)


class LivePresenter:
    def __init__(
        self,
        client: ClientConfig,
        endpoint: SignalingEndpoint,
        *,
        name: str,
        tutorial_url: str = "",
        default_mode: AttendeeMode = AttendeeMode.GUIDED,
        on_notice: Callable[[pres.Notice], None] | None = None,
        timings: pres.PresenterTimings | None = None,
        session_id: str | None = None,
        identity: PresenterIdentity | None = None,
        on_id_taken: Callable[[str, bool], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
        partial_budget: PartialBudget | None = None,
    ) -> None:
        """`on_id_taken(session_id, taken)`: another peer holds our session id on the signaling
        server (True; we keep trying to get it back), or it is ours again (False).
        `on_warning(text)`: something the presenter must know (newcomers refused).
        `partial_budget`: chunked bytes in flight, all attendees' connections together
        (default: `client.max_partial_bytes` of its own)."""
        self._client = client
        self._endpoint = endpoint
        self._on_notice = on_notice or (lambda notice: None)
        self._on_id_taken = on_id_taken or (lambda session_id, taken: None)
        self._on_warning = on_warning or (lambda text: None)
        self._refused_since_warning = 0
        self._last_full_warning = -FULL_WARNING_INTERVAL
        self.id_taken = False
        self._identity = identity
        self._requested_id = identity.session_id if identity else session_id
        self._partials = partial_budget or PartialBudget(client.max_partial_bytes)
        self.session = pres.PresenterSession(
            session_id="",
            name=name,
            tutorial_url=tutorial_url,
            key=identity.key if identity else PresenterKey.generate(),
            default_mode=default_mode,
            timings=timings or pres.PresenterTimings.for_heartbeat(client.heartbeat_interval),
        )
        self.peer: Peer | None = None
        self._connections: dict[str, DataConnection] = {}
        self._tasks = _Tasks()
        self.dropped_sends = 0

    async def start(self) -> JoinCode:
        """Register a fresh 6-character session id (another one if it is taken); return the
        join code. A session file's id is ours already: if someone holds it, we say so and
        keep trying in the background (`on_id_taken`)."""
        for attempt in range(5):
            session_id = self._requested_id or new_session_id()
            peer = Peer.for_client(
                self._endpoint,
                self._client,
                session_id,
                token=self._identity.token if self._identity else None,
                limits=PRESENTER_READS,
                keep_id=self._identity is not None,
                partial_budget=self._partials,
            )
            peer.on_signaling_state = lambda state, sid=session_id: self._signaling_state(
                sid, state
            )
            peer.make_room = lambda src: self.session.room_for(src, time.monotonic())
            peer.on_full = self._full
            try:
                await peer.open()
            except IdTakenError:
                if self._requested_id is None and attempt < 4:
                    continue
                raise
            self.peer = peer
            self.session.session_id = session_id
            # Sequence numbers start at the start time (ms): a restarted presenter numbers
            # above everything it sent before, so attendees never take a new event for an old.
            self.session.seq = max(self.session.seq, now_ms())
            break
        assert self.peer is not None
        logger.info("[SessionManager] Session %s started", self.session.session_id)
        self._tasks.spawn(self._accept_forever(), "presenter-accept")
        self._tasks.spawn(self._tick_forever(), "presenter-tick")
        return self.session.join_code

    async def stop(self, reason: str | None = None) -> None:
        """End the session for everyone, then close every connection."""
        if self.peer is None:
            return
        self._perform(self.session.end(now_ms(), reason))
        await asyncio.sleep(0.2)  # let session_end leave the SCTP buffers
        await self._tasks.cancel_all()
        await self.peer.close()
        self.peer = None

    def broadcast(self, event: SessionEvent) -> int:
        """Send one event to every joined attendee; returns how many it was sent to."""
        outputs = self.session.broadcast(event, now_ms())
        self._perform(outputs)
        return len(outputs)

    @property
    def attendees(self) -> list[pres.Attendee]:
        return self.session.joined

    def kick(self, who: str) -> pres.Kick:
        """Send away the one attendee that `who` names (a peer id, or a name no other
        attendee shares) and refuse its peer id from now on; see `PresenterSession.kick`."""
        kick = self.session.kick(who)
        self._perform(list(kick.outputs))
        if self.peer is not None:
            for peer_id in kick.sent_away:
                self.peer.disconnect_peer(peer_id)
        return kick

    def _full(self, src: str) -> None:
        """Every connection is a live attendee's and a newcomer was refused: say so, at most
        every FULL_WARNING_INTERVAL seconds."""
        self._refused_since_warning += 1
        now = time.monotonic()
        if now - self._last_full_warning < FULL_WARNING_INTERVAL:
            return
        connections, joined, peers = self.session.capacity()
        self._on_warning(
            f"Refusing newcomers: all {connections} connections are taken ({joined} attendees "
            f"from {peers} peer ids); {self._refused_since_warning} refused since the last "
            "warning. If some are not real attendees, `kick NAME` sends one away."
        )
        logger.warning(
            "[SessionManager] Full: %d connections, %d joined from %d peers; refused %s",
            connections,
            joined,
            peers,
            src,
        )
        self._last_full_warning = now
        self._refused_since_warning = 0

    def _signaling_state(self, session_id: str, state: SignalingState) -> None:
        if state is SignalingState.TAKEN and not self.id_taken:
            self.id_taken = True
            self._on_id_taken(session_id, True)
        elif state is SignalingState.OPEN and self.id_taken:
            self.id_taken = False
            logger.warning("[SessionManager] Session id %s is ours again", session_id)
            self._on_id_taken(session_id, False)

    async def _accept_forever(self) -> None:
        assert self.peer is not None
        while True:
            connection = await self.peer.accept()
            self._connections[connection.connection_id] = connection
            ours, theirs = connection.fingerprints
            binding = ChannelBinding(connection.peer, self.session.session_id, theirs, ours)
            self._perform(
                self.session.connection_opened(
                    connection.connection_id, connection.peer, time.monotonic(), binding
                )
            )
            self._tasks.spawn(self._read(connection), f"read-{connection.connection_id}")

    async def _read(self, connection: DataConnection) -> None:
        conn = connection.connection_id
        try:
            while True:
                data = await connection.recv()
                self._perform(self.session.message_received(conn, data, time.monotonic(), now_ms()))
        except DataConnectionError:
            pass
        finally:
            self._connections.pop(conn, None)
            self._perform(self.session.connection_closed(conn))

    async def _tick_forever(self) -> None:
        while True:
            now = time.monotonic()
            self._perform(self.session.tick(now, now_ms()))
            for connection in self._connections.values():
                connection.prune(now)
            memory.heap.release_if_due()
            await asyncio.sleep(TICK)

    def _perform(self, outputs: list[pres.Output]) -> None:
        for output in outputs:
            if isinstance(output, pres.SendTo):
                connection = self._connections.get(output.conn)
                if connection is None:
                    continue
                try:
                    connection.send(output.message)
                except DataConnectionError as exc:
                    self.dropped_sends += 1
                    logger.warning("[SessionManager] Not sent to %s: %s", connection.peer, exc)
            elif isinstance(output, pres.Disconnect):
                connection = self._connections.pop(output.conn, None)
                if connection is not None:
                    self._tasks.spawn(connection.close(), f"close-{output.conn}")
            else:
                self._on_notice(output)


class LiveAttendee:
    """An attendee that stays in the session: it reconnects by itself when its data
    connection drops, re-verifies the presenter, and resumes from the state the presenter
    sends (sync_state), never replaying an event twice (sequence numbers)."""

    def __init__(
        self,
        client: ClientConfig,
        endpoint: SignalingEndpoint,
        code: JoinCode,
        *,
        name: str = "Anonymous",
        mode: AttendeeMode = AttendeeMode.GUIDED,
        timings: att.AttendeeTimings | None = None,
        max_pending_events: int = 1000,
        on_state: Callable[[str], None] | None = None,
        partial_budget: PartialBudget | None = None,
    ) -> None:
        """`partial_budget`: chunked bytes in flight, shared with other attendees of the same
        owner (a swarm worker's); by default `client.max_partial_bytes` of its own."""
        self._client = client
        self._endpoint = endpoint
        self._timings = timings or att.AttendeeTimings(
            presenter_silence=client.presenter_silence_timeout
        )
        self.session = att.AttendeeSession(code, name=name, mode=mode, timings=self._timings)
        self.peer: Peer | None = None
        self.connection: DataConnection | None = None
        self.events: asyncio.Queue[SessionEvent] = asyncio.Queue(max_pending_events)
        self.outcome: asyncio.Future[str] | None = None
        self.rejected: list[str] = []
        self.reconnects = 0
        self._on_state = on_state or (lambda text: None)
        self._partials = partial_budget or PartialBudget(client.max_partial_bytes)
        self._tasks = _Tasks()
        self._settled = asyncio.Event()  # set once joining succeeded or failed
        self._lost = asyncio.Event()  # set when the data connection drops
        self._closing = False

    async def join(self) -> None:
        """Connect, verify the presenter and join; raise SessionError when that fails."""
        self.outcome = asyncio.get_running_loop().create_future()
        self.peer = Peer.for_client(
            self._endpoint,
            self._client,
            accept_incoming=False,
            limits=ATTENDEE_READS,
            partial_budget=self._partials,
        )
        await self.peer.open()
        try:
            await self._connect_first()
        except BaseException:
            await self.close(leave=False)
            raise
        self._tasks.spawn(self._tick_forever(), "attendee-tick")
        self._tasks.spawn(self._supervise(), "attendee-supervise")

    async def _connect_first(self) -> None:
        """The first join. A presenter under an OFFER flood refuses or drops some OFFERs (it
        answers none of those), so an attempt that gets no channel is retried with backoff,
        each waiting longer (5 s, then doubling up to connect_timeout), for up to three times
        connect_timeout in all."""
        client = self._client
        deadline = time.monotonic() + 3 * client.connect_timeout
        delays = backoff(client.reconnect_initial, 2.0, client.reconnect_max)
        attempt_timeout = min(5.0, client.connect_timeout)
        while True:
            try:
                await self._connect_once(attempt_timeout)
                return
            except PeerUnavailableError as exc:
                if exc.waited >= BUSY_EXPIRE_WITHIN:
                    raise  # expired after the server's timeout: no such session
                # Bounced at once: our server says the presenter is too far behind (a flood).
                await self._retry_first(exc, next(delays), attempt_timeout, deadline)
            except DataConnectionError as exc:
                await self._retry_first(exc, next(delays), attempt_timeout, deadline)
            attempt_timeout = min(2 * attempt_timeout, client.connect_timeout)

    async def _retry_first(
        self, error: DataConnectionError, delay: float, attempt_timeout: float, deadline: float
    ) -> None:
        """Wait before the next first-join attempt, or give up with `error` past the deadline."""
        if time.monotonic() + delay + attempt_timeout > deadline:
            raise error
        logger.info("[SessionManager] No channel to the presenter yet (%s); retrying", error)
        await asyncio.sleep(delay)

    async def _connect_once(self, open_timeout: float | None = None) -> None:
        """One data connection, one handshake: verified and joined, or SessionError."""
        assert self.peer is not None and self.outcome is not None
        self._settled.clear()
        self._lost.clear()
        self.connection = await self.peer.connect(self.session.code.id, open_timeout=open_timeout)
        binding = binding_to_presenter(self.peer, self.connection)
        self._perform(self.session.channel_opened(time.monotonic(), now_ms(), binding))
        self._tasks.spawn(self._read(self.connection), "attendee-read")
        timings = self._timings
        try:
            async with asyncio.timeout(timings.challenge_timeout + timings.session_start_wait + 1):
                await self._settled.wait()
        except TimeoutError:
            raise SessionError("the presenter did not start the session") from None
        if self.session.phase is not att.AttendeePhase.ACTIVE:
            reason = self.outcome.result() if self.outcome.done() else "the connection closed"
            raise SessionError(reason)

    async def _supervise(self) -> None:
        """Reconnect after a drop, with backoff, until the presenter's grace period ends."""
        assert self.outcome is not None
        while not self.outcome.done():
            lost: asyncio.Future[Any] = asyncio.ensure_future(self._lost.wait())
            ended: asyncio.Future[Any] = self.outcome
            try:
                await asyncio.wait([lost, ended], return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
            if self.outcome.done() or self._closing:
                return
            self._on_state("presenter disconnected, waiting")
            logger.warning("[SessionManager] Connection to the presenter lost; reconnecting")
            if not await self._reconnect():
                return
            self.reconnects += 1
            self._on_state("reconnected")
            logger.info("[SessionManager] Reconnected to the presenter")

    async def _reconnect(self) -> bool:
        assert self.outcome is not None
        deadline = time.monotonic() + self._client.presenter_grace
        delays = backoff(self._client.reconnect_initial, 2.0, self._client.reconnect_max)
        while time.monotonic() < deadline:
            await asyncio.sleep(min(next(delays), max(0.0, deadline - time.monotonic())))
            if self.connection is not None:
                await self.connection.close()
            # A fresh handshake: the presenter is verified again on every connection.
            self.session = att.AttendeeSession(
                self.session.code,
                name=self.session.name,
                mode=self.session.mode,
                timings=self._timings,
                last_seq=self.session.last_seq,
            )
            try:
                await self._connect_once()
                return True
            except SessionError as exc:
                if self.session.impostor:
                    self._finish(str(exc))  # an impostor: never retried
                    return False
                logger.info("[SessionManager] Reconnect attempt failed: %s", exc)
            except (DataConnectionError, SignalingError) as exc:
                logger.debug("[SessionManager] Reconnect attempt failed: %s", exc)
        self._finish(f"the presenter did not come back within {self._client.presenter_grace:g} s")
        return False

    async def next_event(self) -> SessionEvent | None:
        """The next event from the presenter, or None once the session is over."""
        assert self.outcome is not None
        if not self.events.empty():
            return self.events.get_nowait()
        if self.outcome.done():
            return None
        getter: asyncio.Future[Any] = asyncio.ensure_future(self.events.get())
        ended: asyncio.Future[Any] = self.outcome
        try:
            await asyncio.wait([getter, ended], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
        if getter.done() and not getter.cancelled():
            event: SessionEvent = getter.result()
            return event
        return self.events.get_nowait() if not self.events.empty() else None

    def change_mode(self, mode: AttendeeMode) -> None:
        self._perform(self.session.change_mode(mode, now_ms()))

    def raise_hand(self, raised: bool = True) -> None:
        self._perform(self.session.raise_hand(raised, now_ms()))

    def report(
        self, status: AttendeeState, *, step: str | None = None, error: str | None = None
    ) -> None:
        self._perform(self.session.report(status, now_ms(), step=step, error=error))

    async def close(self, *, leave: bool = True) -> None:
        self._closing = True
        if self.outcome is not None and not self.outcome.done():
            self.outcome.set_result("left")
        if leave and self.connection is not None and self.session.verified:
            self._perform(self.session.leave(now_ms()))
            await asyncio.sleep(0.1)
        await self._tasks.cancel_all()
        if self.peer is not None:
            await self.peer.close()
            self.peer = None

    async def _read(self, connection: DataConnection) -> None:
        try:
            while True:
                data = await connection.recv()
                self._perform(self.session.message_received(data, time.monotonic(), now_ms()))
        except DataConnectionError:
            if connection is self.connection:
                self._lost.set()
                self._settled.set()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK / 5)
            now = time.monotonic()
            self._perform(self.session.tick(now, now_ms()))
            if self.connection is not None:
                self.connection.prune(now)
            memory.heap.release_if_due()

    def _finish(self, reason: str) -> None:
        if self.outcome is not None and not self.outcome.done():
            self.outcome.set_result(reason)
        self._settled.set()

    def _perform(self, outputs: list[att.Output]) -> None:
        for output in outputs:
            if isinstance(output, att.Send):
                if self.connection is None:
                    continue
                try:
                    self.connection.send(output.message)
                except DataConnectionError as exc:
                    logger.warning("[SessionManager] Not sent to the presenter: %s", exc)
            elif isinstance(output, att.Deliver):
                try:
                    self.events.put_nowait(output.event)
                except asyncio.QueueFull:
                    logger.warning("[SessionManager] Event queue full; dropped %s", output.event)
            elif isinstance(output, att.Rejected):
                self.rejected.append(output.reason)
            elif isinstance(output, att.Failed):
                logger.error("[SessionManager] %s", output.reason)
                self._finish(output.reason)
            elif isinstance(output, att.Ended):
                self._finish(output.reason)
            elif isinstance(output, att.Lost):
                logger.warning("[SessionManager] %s", output.reason)
                self._lost.set()
        if self.session.phase not in _JOINING_PHASES:
            self._settled.set()


_JOINING_PHASES = (
    att.AttendeePhase.CONNECTING,
    att.AttendeePhase.VERIFYING,
    att.AttendeePhase.JOINING,
)
