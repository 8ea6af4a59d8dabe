"""Python PeerJS peers over real aiortc data channels, through our server and npm `peer`."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest

from bridge.config import LimitsConfig, ServerConfig
from bridge.protocol.serialization import Serialization
from bridge.signaling.server import SignalingServer
from bridge.transport.dataconnection import ConnectionClosedError
from bridge.transport.endpoint import SignalingEndpoint
from bridge.transport.peer import Peer, PeerUnavailableError
from bridge.transport.signaling_client import SignalingError, SignalingState
from tests.conftest import UNIT
from tests.servers import npm_peer_server


@pytest.fixture(params=["ours", "npm-peer"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "npm-peer":
        with npm_peer_server(None, "--expire_timeout", "1000") as url:
            yield url
    else:
        yield ""  # filled in by `endpoint`


@pytest.fixture
async def endpoint(server_url: str) -> AsyncIterator[SignalingEndpoint]:
    if server_url:
        yield SignalingEndpoint.parse(server_url, "pathfinder")
        return
    config = ServerConfig(port=0, expire_timeout=1.0, cleanup_interval=0.1)
    async with SignalingServer(config) as server:
        yield SignalingEndpoint.parse(server.url, "pathfinder")


@pytest.mark.parametrize("serialization", list(Serialization))
async def test_connect_accept_and_exchange(
    endpoint: SignalingEndpoint, serialization: Serialization
) -> None:
    async with Peer(endpoint, "host1") as host, Peer(endpoint) as guest:
        assert len(guest.id) == 36
        conn = await guest.connect("host1", serialization=serialization, metadata={"who": "guest"})
        async with asyncio.timeout(5 * UNIT):
            incoming = await host.accept()
        assert incoming.peer == guest.id and incoming.connection_id == conn.connection_id
        assert incoming.serialization is serialization and incoming.metadata == {"who": "guest"}
        message: object = {"n": 1, "list": [1, 2.5, None], "s": "x" * 100}
        if serialization is Serialization.RAW:
            message = b"raw bytes"
        conn.send(message)
        async with asyncio.timeout(5 * UNIT):
            assert await incoming.recv() == message
            incoming.send(message)
            assert await conn.recv() == message


async def test_large_binary_message_is_chunked(endpoint: SignalingEndpoint) -> None:
    async with Peer(endpoint, "host2") as host, Peer(endpoint) as guest:
        conn = await guest.connect("host2")
        incoming = await host.accept()
        big = {"blob": bytes(range(256)) * 800, "text": "é" * 30000}
        conn.send(big)
        async with asyncio.timeout(5 * UNIT):
            assert await incoming.recv() == big


async def test_order_is_kept(endpoint: SignalingEndpoint) -> None:
    async with Peer(endpoint, "host3") as host, Peer(endpoint) as guest:
        conn = await guest.connect("host3")
        incoming = await host.accept()
        for i in range(500):
            conn.send({"i": i})
        async with asyncio.timeout(10 * UNIT):
            assert [(await incoming.recv())["i"] for _ in range(500)] == list(range(500))


async def test_unknown_peer_is_reported(endpoint: SignalingEndpoint) -> None:
    async with Peer(endpoint) as guest:
        with pytest.raises(PeerUnavailableError, match="no session 'nobody'"):
            await guest.connect("nobody", open_timeout=10 * UNIT)


async def test_remote_close_is_seen(endpoint: SignalingEndpoint) -> None:
    async with Peer(endpoint, "host4") as host, Peer(endpoint) as guest:
        conn = await guest.connect("host4")
        incoming = await host.accept()
        await incoming.close()
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(10 * UNIT):
                await conn.recv()


async def test_id_taken() -> None:
    async with SignalingServer(ServerConfig(port=0)) as server:
        endpoint = SignalingEndpoint.parse(server.url, "pathfinder")
        async with Peer(endpoint, "same"):
            with pytest.raises(SignalingError, match="taken"):
                async with Peer(endpoint, "same"):
                    pass


async def test_unreachable_server_says_what_to_check() -> None:
    endpoint = SignalingEndpoint.parse("http://127.0.0.1:9/pathfinder", "pathfinder")
    with pytest.raises(SignalingError, match="cannot reach the signaling server"):
        async with Peer(endpoint, "x", connect_timeout=3):
            pass


async def test_wrong_key_is_refused() -> None:
    async with SignalingServer(ServerConfig(port=0)) as server:
        endpoint = SignalingEndpoint.parse(server.url, "wrongkey")
        with pytest.raises(SignalingError, match="Invalid key provided"):
            async with Peer(endpoint, "x"):
                pass


async def test_a_pace_that_never_lifts_ends_at_the_deadline_with_what_happened() -> None:
    """A refusal for now ("try again shortly") is waited out, but only until connect_timeout."""
    limits = LimitsConfig(registrations_per_second_per_ip=0.001, registration_burst_per_ip=1)
    async with SignalingServer(ServerConfig(port=0, limits=limits)) as server:
        endpoint = SignalingEndpoint.parse(server.url, "pathfinder")
        async with Peer(endpoint, "first"):
            with pytest.raises(SignalingError, match=r"kept refusing us for 2 s .*try again"):
                async with Peer(endpoint, "second", connect_timeout=2):
                    pass


async def test_reregisters_after_server_restart_and_channels_survive() -> None:
    config = ServerConfig(port=0)
    server = SignalingServer(config)
    await server.start()
    port = server.port
    endpoint = SignalingEndpoint.parse(server.url, "pathfinder")
    async with Peer(endpoint, "sticky", heartbeat_interval=0.2) as host, Peer(endpoint) as guest:
        conn = await guest.connect("sticky")
        incoming = await host.accept()
        await server.close()
        await asyncio.sleep(0.3)
        assert host.signaling_state is SignalingState.RECONNECTING
        conn.send("still flowing")  # the data channel does not need the server
        async with asyncio.timeout(5 * UNIT):
            assert await incoming.recv() == "still flowing"
        server = SignalingServer(dataclasses.replace(config, port=port))
        await server.start()
        try:
            async with asyncio.timeout(15 * UNIT):
                while host.signaling_state is not SignalingState.OPEN:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            async with Peer(endpoint) as late:
                again = await late.connect("sticky")  # the same id works again
                assert again.state.value == "open"
        finally:
            await server.close()


async def test_a_peer_that_closes_releases_its_id_at_once() -> None:
    # Our server keeps an id reserved for its token while its owner is away; a peer that
    # closes on purpose says so (LEAVE without dst), so its id is free for anyone at once.
    config = ServerConfig(port=0, cleanup_interval=0.1, reservation_grace=60.0)
    async with SignalingServer(config) as server:
        endpoint = SignalingEndpoint.parse(server.url, "pathfinder")
        async with Peer(endpoint, "leaver", token="first-token"):
            pass
        async with asyncio.timeout(5 * UNIT), Peer(endpoint, "leaver", token="other-token") as p:
            assert p.signaling_state is SignalingState.OPEN


async def test_an_expire_says_how_soon_it_came() -> None:
    # Our server bounces an OFFER off a peer that has stopped reading at once (EXPIRE), while
    # an absent id expires only after expire_timeout: attendees retry the first, not the second.
    import json

    from websockets.asyncio.client import connect

    config = ServerConfig(port=0, expire_timeout=1.0, cleanup_interval=0.1)
    async with SignalingServer(config) as server:
        endpoint = SignalingEndpoint.parse(server.url, "pathfinder")
        base = f"ws://127.0.0.1:{server.port}/pathfinder/peerjs?key=pathfinder"
        async with (
            connect(f"{base}&id=stuck&token=t", max_queue=1, close_timeout=0.1) as stuck,
            connect(f"{base}&id=flooder&token=t", close_timeout=0.1) as flooder,
            Peer(endpoint) as guest,
        ):
            await stuck.recv()  # OPEN; from now on it reads nothing
            await flooder.recv()
            with pytest.raises(PeerUnavailableError) as absent:
                await guest.connect("nobody", open_timeout=5 * UNIT)
            assert absent.value.waited >= 0.9
            sdp = {"type": "offer", "sdp": "v=0\r\n" + "a=x\r\n" * 9000}
            payload = {"sdp": sdp, "type": "data", "connectionId": "dc_x", "reliable": True}
            frame = json.dumps({"type": "OFFER", "dst": "stuck", "payload": payload})
            for _ in range(200):  # until the kernel's and the server's buffers for it are full
                await flooder.send(frame)
            await asyncio.sleep(0.5)
            with pytest.raises(PeerUnavailableError) as busy:
                await guest.connect("stuck", open_timeout=5 * UNIT)
            assert busy.value.waited < 0.5
