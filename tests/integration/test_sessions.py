"""Live Sessions between real Python peers: one presenter, several attendees, real aiortc."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from bridge.config import ClientConfig, ServerConfig
from bridge.protocol.events import (
    AttendeeMode,
    AttendeeState,
    DoIt,
    InteractiveAction,
    SessionEnd,
    SessionStart,
    ShowMe,
    SyncState,
    TargetAction,
)
from bridge.protocol.joincode import JoinCode
from bridge.session.live import LiveAttendee, LivePresenter, SessionError
from bridge.session.presenter import Notice, NoticeKind
from bridge.signaling.server import SignalingServer
from bridge.transport.endpoint import SignalingEndpoint
from bridge.transport.signaling_client import SignalingError
from tests.conftest import UNIT
from tests.servers import npm_peer_server

CLIENT = ClientConfig()


@pytest.fixture(params=["ours", "npm-peer"])
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def npm_url(server_kind: str) -> Iterator[str]:
    if server_kind == "npm-peer":
        with npm_peer_server() as url:
            yield url
    else:
        yield ""


@pytest.fixture
def reservation_grace() -> float:
    return ServerConfig().reservation_grace


@pytest.fixture
async def endpoint(npm_url: str, reservation_grace: float) -> AsyncIterator[SignalingEndpoint]:
    if npm_url:
        yield SignalingEndpoint.parse(npm_url, "pathfinder")
        return
    async with SignalingServer(ServerConfig(port=0, reservation_grace=reservation_grace)) as server:
        yield SignalingEndpoint.parse(server.url, "pathfinder")


async def next_of(attendee: LiveAttendee, kind: type) -> object:
    async with asyncio.timeout(5 * UNIT):
        while True:
            event = await attendee.next_event()
            if event is None or isinstance(event, kind):
                return event


async def test_presenter_with_several_attendees(endpoint: SignalingEndpoint) -> None:
    notices: list[Notice] = []
    presenter = LivePresenter(
        CLIENT,
        endpoint,
        name="Workshop",
        tutorial_url="https://grafana.com/docs/x",
        on_notice=notices.append,
    )
    code = await presenter.start()
    assert len(code.id) == 6 and code.pubkey
    attendees = [
        LiveAttendee(
            CLIENT,
            endpoint,
            JoinCode.parse(code.encode()),
            name=f"a{i}",
            mode=AttendeeMode.FOLLOW if i % 2 else AttendeeMode.GUIDED,
        )
        for i in range(4)
    ]
    try:
        await asyncio.gather(*(a.join() for a in attendees))
        for attendee in attendees:
            start = await next_of(attendee, SessionStart)
            assert isinstance(start, SessionStart) and start.config.name == "Workshop"
        assert sorted(a.name for a in presenter.attendees) == ["a0", "a1", "a2", "a3"]

        action = InteractiveAction(
            TargetAction.HIGHLIGHT, "a[href='/dashboards']", targetComment="Here"
        )
        for i in range(20):
            event = (
                ShowMe(stepId=f"s{i}", action=action)
                if i % 2
                else DoIt(stepId=f"s{i}", action=action)
            )
            assert presenter.broadcast(event) == 4
        for attendee in attendees:
            received = []
            while len(received) < 20:
                event = await next_of(attendee, ShowMe | DoIt)  # type: ignore[arg-type]
                received.append(event)
            assert [e.stepId for e in received] == [f"s{i}" for i in range(20)]  # type: ignore[attr-defined]

        attendees[1].change_mode(AttendeeMode.GUIDED)
        attendees[2].raise_hand()
        attendees[3].report(AttendeeState.ERROR, step="s3", error="element not found")
        await attendees[0].close()
        async with asyncio.timeout(5 * UNIT):
            wanted = {
                NoticeKind.MODE_CHANGED,
                NoticeKind.HAND_RAISED,
                NoticeKind.STATUS,
                NoticeKind.LEFT,
            }
            while not wanted <= {n.kind for n in notices}:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert sorted(a.name for a in presenter.attendees) == ["a1", "a2", "a3"]
        status = next(n for n in notices if n.kind is NoticeKind.STATUS)
        assert "element not found" in status.detail and status.attendee.last_result

        await presenter.stop("done")
        for attendee in attendees[1:]:
            end = await next_of(attendee, SessionEnd)
            assert isinstance(end, SessionEnd) and end.reason == "done"
            assert await attendee.next_event() is None
    finally:
        for attendee in attendees:
            await attendee.close(leave=False)
        await presenter.stop()


async def test_late_joiner_gets_the_current_step(endpoint: SignalingEndpoint) -> None:
    from bridge.protocol.events import Navigation

    presenter = LivePresenter(CLIENT, endpoint, name="Late")
    code = await presenter.start()
    presenter.broadcast(Navigation(tutorialUrl="https://grafana.com/docs/late", stepNumber=3))
    late = LiveAttendee(CLIENT, endpoint, code)
    try:
        await late.join()
        sync = await next_of(late, SyncState)
        assert isinstance(sync, SyncState) and (sync.tutorialUrl, sync.stepNumber) == (
            "https://grafana.com/docs/late",
            3,
        )
    finally:
        await late.close()
        await presenter.stop()


async def test_second_presenter_cannot_claim_the_id(endpoint: SignalingEndpoint) -> None:
    first = LivePresenter(CLIENT, endpoint, name="Real")
    code = await first.start()
    impostor = LivePresenter(CLIENT, endpoint, name="Fake", session_id=code.id)
    try:
        with pytest.raises(SignalingError, match="taken"):
            await impostor.start()
    finally:
        await first.stop()


# Our server keeps a departed presenter's id for its token (tests/security), so the impostor
# could not register; this is the attendee's own defence, for servers without reservations
# (npm `peer`, or ours after the grace period).
@pytest.mark.parametrize("reservation_grace", [0.0])
async def test_attendee_refuses_a_presenter_with_another_key(endpoint: SignalingEndpoint) -> None:
    real = LivePresenter(CLIENT, endpoint, name="Real")
    code = await real.start()
    await real.stop()
    # Someone else registers the same id after the real presenter left, with their own key.
    impostor = LivePresenter(CLIENT, endpoint, name="Fake", session_id=code.id)
    await impostor.start()
    attendee = LiveAttendee(CLIENT, endpoint, code)
    try:
        with pytest.raises(SessionError, match="failed the identity check"):
            await attendee.join()
        assert impostor.attendees == []  # no attendee_join reached the impostor
    finally:
        await attendee.close(leave=False)
        await impostor.stop()


async def test_attendees_accept_no_connection_but_the_presenters(
    endpoint: SignalingEndpoint,
) -> None:
    """A stranger who learns an attendee's peer id cannot open a channel to it."""
    from bridge.transport.dataconnection import DataConnectionError
    from bridge.transport.peer import Peer

    presenter = LivePresenter(CLIENT, endpoint, name="Private")
    code = await presenter.start()
    attendee = LiveAttendee(CLIENT, endpoint, code)
    try:
        await attendee.join()
        assert attendee.peer is not None
        async with Peer(endpoint) as stranger:
            with pytest.raises(DataConnectionError):
                await stranger.connect(attendee.peer.id, open_timeout=3)
        assert attendee.peer.refused_incoming == 1
    finally:
        await attendee.close()
        await presenter.stop()
