"""A session through TURN: coturn (Debian's package) on loopback, relay-only ICE on both sides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from bridge.config import ClientConfig, IceServerConfig, ServerConfig
from bridge.protocol.events import InteractiveAction, ShowMe, StepEvent, TargetAction
from bridge.session.live import LiveAttendee, LivePresenter
from bridge.signaling.server import SignalingServer
from bridge.transport.endpoint import SignalingEndpoint
from bridge.transport.peer import Peer
from tests.conftest import UNIT
from tests.servers import coturn


@pytest.fixture(scope="module")
def turn_url() -> Iterator[str]:
    with coturn() as port:
        yield f"turn:127.0.0.1:{port}"


@pytest.fixture
async def endpoint() -> AsyncIterator[SignalingEndpoint]:
    async with SignalingServer(ServerConfig(port=0)) as server:
        yield SignalingEndpoint.parse(server.url, "pathfinder")


def relay_only(turn_url: str, password: str = "secret") -> ClientConfig:
    return ClientConfig(
        ice_servers=(IceServerConfig((turn_url,), "workshop", password),),
        ice_transport_policy="relay",
    )


async def test_data_channel_through_turn_relay_only(
    turn_url: str, endpoint: SignalingEndpoint
) -> None:
    client = relay_only(turn_url)
    async with (
        Peer(
            endpoint, "turnhost", ice_servers=client.ice_servers, ice_transport_policy="relay"
        ) as host,
        Peer(endpoint, ice_servers=client.ice_servers, ice_transport_policy="relay") as guest,
    ):
        connection = await guest.connect("turnhost", open_timeout=20 * UNIT)
        incoming = await host.accept()
        gatherer = connection.pc.sctp.transport.transport.iceGatherer  # type: ignore[union-attr]
        local = gatherer.getLocalCandidates()
        assert local and {c.type for c in local} == {"relay"}  # nothing but TURN-relayed paths
        connection.send({"through": "turn"})
        async with asyncio.timeout(10 * UNIT):
            assert await incoming.recv() == {"through": "turn"}


async def test_session_through_turn(turn_url: str, endpoint: SignalingEndpoint) -> None:
    client = relay_only(turn_url)
    presenter = LivePresenter(client, endpoint, name="TURN")
    code = await presenter.start()
    attendee = LiveAttendee(client, endpoint, code)
    try:
        await attendee.join()
        presenter.broadcast(
            ShowMe(stepId="relayed", action=InteractiveAction(TargetAction.HIGHLIGHT, "#x"))
        )
        async with asyncio.timeout(10 * UNIT):
            while True:
                event = await attendee.next_event()
                if isinstance(event, StepEvent):
                    break
        assert event.stepId == "relayed"
    finally:
        await attendee.close()
        await presenter.stop()


async def test_wrong_turn_credentials_fail_with_advice(
    turn_url: str, endpoint: SignalingEndpoint
) -> None:
    from bridge.transport.dataconnection import DataConnectionError

    bad = relay_only(turn_url, password="wrong")
    async with (
        Peer(endpoint, "turnhost2", ice_servers=bad.ice_servers, ice_transport_policy="relay"),
        Peer(endpoint, ice_servers=bad.ice_servers, ice_transport_policy="relay") as guest,
    ):
        with pytest.raises(DataConnectionError, match="STUN/TURN"):
            await guest.connect("turnhost2", open_timeout=6)
