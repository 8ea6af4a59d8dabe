"""A PeerJS data connection over aiortc: one RTCPeerConnection with one data channel.

The connecting side creates the channel (label = connection id) and sends OFFER; the
other side answers. Candidates may arrive before or after the remote description: they are
held until it is set. aiortc gathers before it answers, so our own candidates travel inside
the SDP and we send no CANDIDATE messages (PeerJS accepts that).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp

from bridge.config import IceServerConfig
from bridge.errors import BridgeError, ProtocolError
from bridge.protocol import binarypack
from bridge.protocol.proof import sdp_fingerprint
from bridge.protocol.serialization import CLOSE, PARTIAL, ConnectionCodec, Serialization
from bridge.ratelimit import TokenBucket

logger = logging.getLogger("bridge.transport")

#: Unsent bytes above which a peer counts as too slow to send to.
MAX_BUFFERED = 1 << 20
#: Seconds between two warnings about one peer sending over its rate.
RATE_WARNING_INTERVAL = 10.0
#: Candidates kept while the remote description is not set yet (browsers send a handful).
MAX_EARLY_CANDIDATES = 64
#: Bytes of chunked messages not yet whole that the connections of one owner (a presenter,
#: an attendee, a swarm worker's attendees) share by default: `client.max_partial_bytes`.
PARTIAL_BYTES = 16 * 2**20


class DataConnectionError(BridgeError):
    """A data connection failed or closed."""


class ConnectionClosedError(DataConnectionError):
    """The data connection is closed."""


class SlowPeerError(DataConnectionError):
    """The remote side is not reading fast enough; the message was not queued."""


@dataclass(frozen=True)
class ConnectionLimits:
    """What one data connection takes from its remote side: the size, depth and element count
    of a message, and how many frames a second (0: no rate limit). Frames over the rate are
    dropped before they are decoded."""

    max_message_bytes: int = 4 * 2**20
    max_depth: int = binarypack.MAX_DEPTH
    max_items: int = binarypack.MAX_ITEMS
    frames_per_second: float = 0.0
    frame_burst: float = 0.0
    #: Chunked messages in flight at once, and seconds one waits for its other chunks.
    max_partial_messages: int = 8
    partial_stale_after: float = 30.0


class ConnectionState(enum.Enum):
    NEGOTIATING = "negotiating"
    OPEN = "open"
    CLOSED = "closed"


def new_connection_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "dc_" + "".join(secrets.choice(alphabet) for _ in range(10))


def rtc_configuration(
    ice_servers: tuple[IceServerConfig, ...], policy: str = "all"
) -> RTCConfiguration:
    return RTCConfiguration(
        iceTransportPolicy=RTCIceTransportPolicy.RELAY
        if policy == "relay"
        else RTCIceTransportPolicy.ALL,
        iceServers=[
            RTCIceServer(
                urls=list(server.urls),
                username=server.username or None,
                credential=server.credential or None,
            )
            for server in ice_servers
        ],
    )


SignalSender = Callable[[str, dict[str, Any]], Awaitable[None]]


class DataConnection:
    """A reliable, ordered PeerJS data connection to `peer` (the remote peer id)."""

    def __init__(
        self,
        peer: str,
        connection_id: str,
        *,
        ice_servers: tuple[IceServerConfig, ...] = (),
        serialization: Serialization = Serialization.BINARY,
        reliable: bool = True,
        metadata: Any = None,
        max_queued: int = 1000,
        ice_transport_policy: str = "all",
        limits: ConnectionLimits | None = None,
        partial_budget: binarypack.PartialBudget | None = None,
    ) -> None:
        """`partial_budget`: bytes of chunked messages not yet whole, shared with the other
        connections of the same owner (None: only this connection's own limits)."""
        self.peer = peer
        self.connection_id = connection_id
        self.serialization = serialization
        self.reliable = reliable
        self.metadata = metadata
        limits = limits or ConnectionLimits()
        self.codec = ConnectionCodec(
            serialization,
            limits.max_message_bytes,
            limits.max_depth,
            limits.max_items,
            max_partial_messages=limits.max_partial_messages,
            partial_stale_after=limits.partial_stale_after,
            partial_budget=partial_budget,
            ordered=reliable,
        )
        self._rate = (
            TokenBucket(limits.frames_per_second, limits.frame_burst, updated=time.monotonic())
            if limits.frames_per_second > 0
            else None
        )
        #: Frames dropped for exceeding the rate; a warning is logged at most every 10 s.
        self.frames_over_rate = 0
        self._rate_warned_at = -RATE_WARNING_INTERVAL
        self.pc = RTCPeerConnection(rtc_configuration(ice_servers, ice_transport_policy))
        self.channel: RTCDataChannel | None = None
        self.state = ConnectionState.NEGOTIATING
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_reason = ""
        self._inbox: asyncio.Queue[Any] = asyncio.Queue(max_queued)
        self._remote_set = False
        self._pending_candidates: list[dict[str, Any]] = []
        self.pc.on("connectionstatechange", self._on_connection_state)
        self.pc.on("datachannel", self._attach)

    def __repr__(self) -> str:
        return f"<DataConnection {self.connection_id} to {self.peer} {self.state.value}>"

    # -- negotiation ----------

    async def offer(self, send_signal: SignalSender) -> None:
        """The connecting side: create the channel and send OFFER."""
        self._attach(self.pc.createDataChannel(self.connection_id, ordered=self.reliable))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        description = self.pc.localDescription
        await send_signal(
            "OFFER",
            {
                "sdp": {"type": description.type, "sdp": description.sdp},
                "type": "data",
                "connectionId": self.connection_id,
                "label": self.connection_id,
                "reliable": self.reliable,
                "serialization": self.serialization.value,
                "metadata": self.metadata,
                "browser": "pathfinder-bridge",
            },
        )

    async def answer(self, offer_sdp: str, send_signal: SignalSender) -> None:
        """The accepting side: apply the OFFER and send ANSWER."""
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await self._remote_description_set()
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        description = self.pc.localDescription
        await send_signal(
            "ANSWER",
            {
                "sdp": {"type": description.type, "sdp": description.sdp},
                "type": "data",
                "connectionId": self.connection_id,
                "browser": "pathfinder-bridge",
            },
        )

    async def handle_answer(self, answer_sdp: str) -> None:
        if self._remote_set:
            return
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))
        await self._remote_description_set()

    async def handle_candidate(self, candidate: dict[str, Any]) -> None:
        if not self._remote_set:
            if len(self._pending_candidates) < MAX_EARLY_CANDIDATES:
                self._pending_candidates.append(candidate)
            return
        await self._add_candidate(candidate)

    async def _remote_description_set(self) -> None:
        self._remote_set = True
        pending, self._pending_candidates = self._pending_candidates, []
        for candidate in pending:
            await self._add_candidate(candidate)

    async def _add_candidate(self, data: dict[str, Any]) -> None:
        line = data.get("candidate")
        if not isinstance(line, str) or not line:
            return  # end-of-candidates
        try:
            candidate = candidate_from_sdp(
                line.split(":", 1)[1] if line.startswith("candidate:") else line
            )
        except (ValueError, IndexError):
            logger.debug("[Transport] ignored an unparsable candidate %r", line[:80])
            return
        mid = data.get("sdpMid")
        index = data.get("sdpMLineIndex")
        candidate.sdpMid = mid if isinstance(mid, str) else None
        candidate.sdpMLineIndex = index if isinstance(index, int) else 0
        try:
            await self.pc.addIceCandidate(candidate)
        except (ValueError, OSError) as exc:
            logger.debug("[Transport] candidate refused: %s", exc)

    # -- channel ----------

    def _attach(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        channel.on("open", self._on_open)
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._mark_closed("the data channel closed"))
        if channel.readyState == "open":
            self._on_open()

    def _on_open(self) -> None:
        if self.state is ConnectionState.NEGOTIATING:
            self.state = ConnectionState.OPEN
            logger.debug("[Transport] %s open", self)
            self.opened.set()

    def _on_message(self, frame: bytes | str) -> None:
        now = time.monotonic()
        if self._rate is not None and not self._rate.take(now):
            self.frames_over_rate += 1
            if now - self._rate_warned_at >= RATE_WARNING_INTERVAL:
                self._rate_warned_at = now
                logger.warning(
                    "[Transport] %s sends faster than %g messages/s; dropping its messages "
                    "(%d so far)",
                    self.peer,
                    self._rate.rate,
                    self.frames_over_rate,
                )
            return
        try:
            value = self.codec.decode(frame, now)
        except ProtocolError as exc:
            logger.warning("[Transport] dropped a bad message from %s: %s", self.peer, exc)
            return
        if value is PARTIAL:
            return
        if value is CLOSE:
            self._mark_closed("the remote side closed the connection")
            return
        try:
            self._inbox.put_nowait(value)
        except asyncio.QueueFull:
            logger.warning("[Transport] %s: inbox full, message dropped", self)

    def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            reason = "ICE failed" if self.pc.connectionState == "failed" else "closed"
            self._mark_closed(reason)

    def _mark_closed(self, reason: str) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        self.state = ConnectionState.CLOSED
        self.close_reason = reason
        self.codec.clear()  # its chunked messages in flight give their bytes back
        logger.debug("[Transport] %s closed: %s", self, reason)
        self.closed.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._inbox.put_nowait(CLOSE)

    # -- public API -------------------------------------------------------------------------------

    def prune(self, now: float) -> None:
        """Drop chunked messages that waited too long for the rest; the owner's tick calls
        it, so a first chunk alone never stays."""
        self.codec.prune(now)

    @property
    def fingerprints(self) -> tuple[str, str]:
        """The sha-256 fingerprints of our DTLS certificate and the remote one ('' if unknown).

        The remote one comes from its SDP, which DTLS has checked against the certificate it
        presented (aiortc fails the handshake unless every sha-256/384/512 fingerprint matches),
        so it names the peer we really talk to once the channel is open."""
        local, remote = self.pc.localDescription, self.pc.remoteDescription
        return (
            sdp_fingerprint(local.sdp) if local is not None else "",
            sdp_fingerprint(remote.sdp) if remote is not None else "",
        )

    async def wait_open(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                done = asyncio.ensure_future(self.closed.wait())
                opened = asyncio.ensure_future(self.opened.wait())
                try:
                    await asyncio.wait({done, opened}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    done.cancel()
                    opened.cancel()
        except TimeoutError:
            if not self._remote_set:
                # Our OFFER was never answered: the other side did not take the connection.
                raise DataConnectionError(
                    f"{self.peer} did not answer within {seconds:.0f} s: it did not take the "
                    "connection (a presenter that is full or flooded refuses newcomers; ask "
                    "the presenter)"
                ) from None
            raise DataConnectionError(
                f"no data channel to {self.peer} within {seconds:.0f} s: ICE failed. Both sides "
                "need a network path: on different networks configure STUN/TURN servers "
                "(client.ice_servers in config.yaml); check UDP is not blocked by a firewall"
            ) from None
        if not self.opened.is_set():
            raise DataConnectionError(f"the connection to {self.peer} failed: {self.close_reason}")

    def send(self, value: Any) -> None:
        """Queue one message; raises SlowPeerError instead of growing memory without bound."""
        if self.state is not ConnectionState.OPEN or self.channel is None:
            raise ConnectionClosedError(f"the connection to {self.peer} is not open")
        if self.channel.bufferedAmount > MAX_BUFFERED:
            raise SlowPeerError(f"{self.peer} is not reading; message dropped")
        for frame in self.codec.encode(value):
            self.channel.send(frame)

    async def recv(self) -> Any:
        """The next message; raises ConnectionClosedError once the connection is closed."""
        value = await self._inbox.get()
        if value is CLOSE:
            with contextlib.suppress(asyncio.QueueFull):
                self._inbox.put_nowait(CLOSE)  # keep telling later readers
            raise ConnectionClosedError(
                f"the connection to {self.peer} closed: {self.close_reason}"
            )
        return value

    async def close(self) -> None:
        self._mark_closed("closed locally")
        await self.pc.close()
