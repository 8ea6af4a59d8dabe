"""One peer id on a PeerJS signaling server: register, heartbeat, relay, reconnect.

`SignalingClient` owns one task, `_run`, which (re)connects the websocket with the same id
and token, sends HEARTBEAT every interval and hands every server message to `on_message`.
When the socket drops it reconnects with backoff, so a join code stays valid across a
server restart. `open()` waits for the first OPEN and turns refusals into clear errors.

Once registered, the id is ours for good: if another peer holds it when we come back
(ID-TAKEN: it was kicked or raced us after a restart), the client says so (state TAKEN) and
keeps re-registering with its own id and token until the holder goes. What it sends is paced
below the server's rate limit (`SendPacing`), so a burst of our own ANSWERs is never dropped.

A refusal that holds only for now ("Too many new connections from this address, try again
shortly": a room of attendees behind one NAT starting together) is waited out with jittered
backoff, the first registration too, until `connect_timeout`; a bad key stays final.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Iterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from bridge.backoff import backoff
from bridge.errors import BridgeError, ProtocolError
from bridge.printable import printable
from bridge.protocol.peerjs import (
    ClientMessage,
    MessageType,
    ServerMessage,
    is_retryable_refusal,
)
from bridge.ratelimit import TokenBucket
from bridge.transport.endpoint import SignalingEndpoint

logger = logging.getLogger("bridge.transport")


class SignalingError(BridgeError):
    """The signaling server cannot be reached or refused us."""


class IdTakenError(SignalingError):
    """Another peer holds the id we asked for."""


class ServerBusyError(SignalingError):
    """The server refused us for now (its pace or room for new peers); try again shortly."""


class SignalingState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    TAKEN = "taken"  # another peer holds our id; we keep trying to get it back
    CLOSED = "closed"


class SendPacing:
    """Our own sends, paced below the server's limit (`peer` has none; ours allows 50
    messages/s in bursts of 200): `rate` a second in bursts of `burst`, waiting for a token
    rather than being throttled (and dropped) by the server."""

    def __init__(self, rate: float = 30.0, burst: float = 60.0) -> None:
        self._bucket = TokenBucket(rate, burst, updated=time.monotonic())
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:  # first come, first served
            if self._bucket.take(time.monotonic()):
                return
            # The bucket now holds `tokens` < 1: sleep until one is whole, then spend it.
            await asyncio.sleep((1 - self._bucket.tokens) / self._bucket.rate)
            self._bucket.take(time.monotonic())

    def take_nowait(self) -> None:
        self._bucket.take(time.monotonic())


def _raise_if_cancelled() -> None:
    """Honour a cancellation that a library swallowed on its way to us.

    A task's cancel() cancels what the task awaits; when that is an inner task that turns
    its CancelledError into another error (a socket's close path can), the cancellation is
    lost and a reconnect loop would run on, its owner waiting for it forever. The request
    is still counted (`Task.cancelling()`), so it is honoured here.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class SignalingClient:
    def __init__(
        self,
        endpoint: SignalingEndpoint,
        peer_id: str,
        token: str,
        on_message: Callable[[ServerMessage], None],
        *,
        heartbeat_interval: float = 5.0,
        connect_timeout: float = 10.0,
        delays: Callable[[], Iterator[float]] = lambda: backoff(0.25, 2.0, 3.0),
        on_state: Callable[[SignalingState], None] | None = None,
        keep_id: bool = False,
    ) -> None:
        """`keep_id`: the id is already ours (a restarted presenter's, from its session file),
        so ID-TAKEN on the first registration too means: say so and keep trying, and `open()`
        returns with the state TAKEN instead of raising."""
        self.endpoint = endpoint
        self.peer_id = peer_id
        self.token = token
        self._on_message = on_message
        self._on_state = on_state
        self._heartbeat_interval = heartbeat_interval
        self._connect_timeout = connect_timeout
        self._delays = delays
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_open: asyncio.Future[None] | None = None
        self._is_open = asyncio.Event()
        self._pacing = SendPacing()
        self._keep_id = keep_id
        self.state = SignalingState.CONNECTING
        self.reconnects = 0
        #: The last refusal-for-now while we wait to register (None once registered).
        self._busy: ServerBusyError | None = None

    @property
    def _id_is_ours(self) -> bool:
        return self._keep_id or (self._first_open is not None and self._first_open.done())

    def _set_state(self, state: SignalingState) -> None:
        if state is not self.state:
            logger.debug("[Signaling] %s: %s -> %s", self.peer_id, self.state.name, state.name)
            self.state = state
            if self._on_state is not None:
                self._on_state(state)

    async def open(self) -> None:
        """Connect and wait for OPEN; raise SignalingError with what to check otherwise."""
        self._first_open = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"signaling-{self.peer_id}")
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._first_open
        except TimeoutError:
            await self.close()
            if self._busy is not None:
                raise SignalingError(
                    f"the signaling server at {self.endpoint} kept refusing us for "
                    f"{self._connect_timeout:.0f} s ({self._busy}): it is busy or too many peers "
                    "share your address; try again later, or raise client.connect_timeout"
                ) from None
            raise SignalingError(
                f"no answer from the signaling server at {self.endpoint} within "
                f"{self._connect_timeout:.0f} s: check it runs (pathfinder-bridge signal status), "
                "the --server URL, and any firewall or proxy between you"
            ) from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop for good. First tell the server we are gone (LEAVE without `dst`, as npm
        `peer` understands it), so our id is free at once instead of staying reserved for our
        token through the server's grace period."""
        if self._ws is not None and self._is_open.is_set():
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._ws.send(ClientMessage(MessageType.LEAVE).serialize())
        self._set_state(SignalingState.CLOSED)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def send(self, message: ClientMessage, *, wait: float | None = None) -> None:
        """Send one message, paced; while reconnecting, wait up to `wait` seconds for the socket."""
        if wait:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._is_open.wait()
        await self._pacing.wait()
        ws = self._ws
        if ws is None or not self._is_open.is_set():
            raise SignalingError("not connected to the signaling server")
        try:
            await ws.send(message.serialize())
        except ConnectionClosed:
            raise SignalingError("the signaling connection closed while sending") from None

    @property
    def is_open(self) -> bool:
        return self._is_open.is_set()

    async def _run(self) -> None:
        delays = self._delays()
        while True:
            try:
                await self._session()
                delays = self._delays()  # a session that reached OPEN resets the backoff
            except ServerBusyError as exc:
                if self._busy is None:
                    logger.info(
                        "[Signaling] %s: %s; waiting for room, retrying for up to %g s",
                        self.peer_id,
                        exc,
                        self._connect_timeout,
                    )
                else:
                    logger.debug("[Signaling] %s: %s; retrying", self.peer_id, exc)
                self._busy = exc
            except SignalingError as exc:
                if self._first_open is not None and not self._first_open.done():
                    self._first_open.set_exception(exc)
                    return
                if self.state is SignalingState.CLOSED:
                    return
                if not isinstance(exc, IdTakenError):
                    logger.warning("[Signaling] %s; retrying", exc)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                if self._first_open is not None and not self._first_open.done():
                    self._first_open.set_exception(self._unreachable(exc))
                    return
                logger.debug("[Signaling] reconnect failed: %s", exc)
            finally:
                self._ws = None
                self._is_open.clear()
            if self.state is SignalingState.CLOSED:
                return
            _raise_if_cancelled()
            if self.state is not SignalingState.TAKEN:
                self._set_state(SignalingState.RECONNECTING)
            await asyncio.sleep(next(delays))
            self.reconnects += 1

    def _unreachable(self, exc: BaseException) -> SignalingError:
        if isinstance(exc, InvalidStatus):
            return SignalingError(
                f"the signaling server at {self.endpoint} answered HTTP "
                f"{exc.response.status_code}: check the --server path and the allowed origins"
            )
        return SignalingError(
            f"cannot reach the signaling server at {self.endpoint} ({exc}): check it runs "
            "(pathfinder-bridge signal status) and the --server URL"
        )

    async def _session(self) -> None:
        url = self.endpoint.websocket_url(self.peer_id, self.token)
        async with asyncio.timeout(self._connect_timeout):
            ws = await connect(url, open_timeout=self._connect_timeout, max_size=2**20)
        self._ws = ws
        heartbeat = asyncio.create_task(self._heartbeat(ws), name=f"heartbeat-{self.peer_id}")
        try:
            async with ws:
                with contextlib.suppress(ConnectionClosed):
                    async for frame in ws:
                        if isinstance(frame, str):
                            self._handle(frame)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    def _handle(self, frame: str) -> None:
        try:
            message = ServerMessage.parse(frame)
        except ProtocolError as exc:
            logger.warning("[Signaling] ignored a bad message from the server: %s", exc)
            return
        if message.type is MessageType.OPEN:
            self._busy = None
            self._is_open.set()
            self._set_state(SignalingState.OPEN)
            if self._first_open is not None and not self._first_open.done():
                self._first_open.set_result(None)
            return
        if message.type is MessageType.ID_TAKEN:
            if not self._id_is_ours:
                self._set_state(SignalingState.CLOSED)
                raise IdTakenError(
                    f"the id {self.peer_id!r} is taken on the signaling server: another session "
                    "uses it; start a new session or pick another id"
                )
            if self.state is not SignalingState.TAKEN:
                logger.warning(
                    "[Signaling] Another peer holds our id %s on the signaling server; "
                    "re-registering until it is ours again",
                    self.peer_id,
                )
            self._set_state(SignalingState.TAKEN)
            if self._first_open is not None and not self._first_open.done():
                self._first_open.set_result(None)  # open() returns; we keep trying
            raise IdTakenError(f"the id {self.peer_id!r} is held by another peer")
        if message.type is MessageType.ERROR and not self._is_open.is_set():
            refusal = f"the signaling server refused us: {printable(message.error_text, 200)}"
            if is_retryable_refusal(message.error_text):
                raise ServerBusyError(refusal)
            if not self._id_is_ours:
                self._set_state(SignalingState.CLOSED)
            raise SignalingError(refusal)
        self._on_message(message)

    async def _heartbeat(self, ws: ClientConnection) -> None:
        beat = ClientMessage(MessageType.HEARTBEAT).serialize()
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            self._pacing.take_nowait()  # counts against the server's limit too; never waits
            with contextlib.suppress(ConnectionClosed):
                await ws.send(beat)
