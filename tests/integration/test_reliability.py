"""Staying alive: attendees reconnect, resume from state without double replay, wait for a
presenter within its grace period, and refuse an impostor that takes the id meanwhile."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.config import ClientConfig, ServerConfig
from bridge.protocol.events import InteractiveAction, ShowMe, StepEvent, SyncState, TargetAction
from bridge.session.live import LiveAttendee, LivePresenter
from bridge.session.session_file import PresenterIdentity
from bridge.signaling.server import SignalingServer
from bridge.transport.endpoint import SignalingEndpoint
from tests.conftest import UNIT
from tests.servers import CliProcess, free_port

CLIENT = ClientConfig(reconnect_initial=0.2, reconnect_max=1.0, presenter_grace=20.0)


@pytest.fixture
def reservation_grace() -> float:
    return ServerConfig().reservation_grace


@pytest.fixture
async def endpoint(reservation_grace: float) -> AsyncIterator[SignalingEndpoint]:
    async with SignalingServer(
        ServerConfig(
            port=0,
            expire_timeout=1.0,
            cleanup_interval=0.1,
            reservation_grace=reservation_grace,
        )
    ) as server:
        yield SignalingEndpoint.parse(server.url, "pathfinder")


def show(step: str) -> ShowMe:
    return ShowMe(stepId=step, action=InteractiveAction(TargetAction.HIGHLIGHT, f"#{step}"))


async def step_events(attendee: LiveAttendee, count: int, seconds: float = 10.0) -> list[StepEvent]:
    found: list[StepEvent] = []
    async with asyncio.timeout(seconds * UNIT):
        while len(found) < count:
            event = await attendee.next_event()
            assert event is not None, "session ended"
            if isinstance(event, StepEvent):
                found.append(event)
    return found


async def drop_presenter(presenter: LivePresenter) -> None:
    """The presenter vanishes without a word (crash, network), as kill -9 would."""
    await presenter._tasks.cancel_all()
    assert presenter.peer is not None
    await presenter.peer.close()
    presenter.peer = None


async def wait_until(condition: object, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds * UNIT):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_cut_connection_comes_back_with_state_and_no_double_replay(
    endpoint: SignalingEndpoint,
) -> None:
    presenter = LivePresenter(
        CLIENT, endpoint, name="Resilient", tutorial_url="https://grafana.com/docs/x"
    )
    code = await presenter.start()
    states: list[str] = []
    attendee = LiveAttendee(CLIENT, endpoint, code, name="Ada", on_state=states.append)
    try:
        await attendee.join()
        presenter.broadcast(show("s1"))
        assert [e.stepId for e in await step_events(attendee, 1)] == ["s1"]
        assert attendee.connection is not None
        await attendee.connection.pc.close()  # the attendee's data connection dies
        await wait_until(lambda: not presenter.attendees)
        presenter.broadcast(show("s2"))  # missed while away: comes back as state
        await wait_until(lambda: attendee.reconnects == 1, seconds=5)
        assert states == ["presenter disconnected, waiting", "reconnected"]
        presenter.broadcast(show("s3"))
        events = await step_events(attendee, 2)
        assert [e.stepId for e in events] == ["s2", "s3"]  # s1 not replayed again
        assert [a.name for a in presenter.attendees] == ["Ada"]
    finally:
        await attendee.close()
        await presenter.stop()


async def test_presenter_that_never_returns_ends_the_session(endpoint: SignalingEndpoint) -> None:
    presenter = LivePresenter(CLIENT, endpoint, name="Gone")
    code = await presenter.start()
    client = dataclasses.replace(CLIENT, presenter_grace=2.0)
    attendee = LiveAttendee(client, endpoint, code)
    try:
        await attendee.join()
        await drop_presenter(presenter)
        assert attendee.outcome is not None
        async with asyncio.timeout(10 * UNIT):
            reason = await asyncio.shield(attendee.outcome)
        assert reason == "the presenter did not come back within 2 s"
    finally:
        await attendee.close(leave=False)


async def test_presenter_restarted_with_its_session_file_is_followed_again(
    endpoint: SignalingEndpoint, tmp_path: object
) -> None:
    identity = PresenterIdentity.new()
    first = LivePresenter(CLIENT, endpoint, name="Phoenix", identity=identity)
    code = await first.start()
    attendee = LiveAttendee(CLIENT, endpoint, code, name="Ada")
    await attendee.join()
    try:
        first.broadcast(show("before"))
        await step_events(attendee, 1)
        await drop_presenter(first)
        second = LivePresenter(CLIENT, endpoint, name="Phoenix", identity=identity)
        assert (await second.start()).encode() == code.encode()  # the same join code
        await wait_until(lambda: attendee.reconnects == 1, 20)
        second.broadcast(show("after"))
        assert [e.stepId for e in await step_events(attendee, 1)] == ["after"]
        await second.stop()
    finally:
        await attendee.close(leave=False)


# Our server keeps a dropped presenter's id for its token (tests/security); this is the
# attendee's own defence, for a server that does not (npm `peer`) or after the grace period.
@pytest.mark.parametrize("reservation_grace", [0.0])
async def test_an_impostor_taking_the_id_after_a_drop_is_refused(
    endpoint: SignalingEndpoint,
) -> None:
    real = LivePresenter(CLIENT, endpoint, name="Real")
    code = await real.start()
    attendee = LiveAttendee(CLIENT, endpoint, code, name="Ada")
    await attendee.join()
    await drop_presenter(real)
    await asyncio.sleep(0.3)
    impostor = LivePresenter(CLIENT, endpoint, name="Fake", session_id=code.id)
    await impostor.start()
    try:
        assert attendee.outcome is not None
        async with asyncio.timeout(15 * UNIT):
            reason = await asyncio.shield(attendee.outcome)
        assert "failed the identity check" in reason
        assert impostor.attendees == []
    finally:
        await attendee.close(leave=False)
        await impostor.stop()


async def test_late_joiner_state_includes_mode_and_last_highlight(
    endpoint: SignalingEndpoint,
) -> None:
    presenter = LivePresenter(
        CLIENT, endpoint, name="State", tutorial_url="https://grafana.com/docs/y"
    )
    code = await presenter.start()
    presenter.broadcast(show("current"))
    late = LiveAttendee(CLIENT, endpoint, code)
    try:
        await late.join()
        seen = []
        async with asyncio.timeout(5 * UNIT):
            while len(seen) < 3:
                event = await late.next_event()
                assert event is not None
                seen.append(event)
        sync = next(e for e in seen if isinstance(e, SyncState))
        assert sync.lastEvent is not None and sync.lastEvent.stepId == "current"
        assert any(
            isinstance(e, ShowMe) and e.stepId == "current" for e in seen
        )  # highlighted at once
    finally:
        await late.close()
        await presenter.stop()


async def test_a_full_presenter_lets_an_attendee_back_in_after_a_network_blip(
    endpoint: SignalingEndpoint,
) -> None:
    """Every place is a live attendee's. One of them comes back on a new connection while its
    old one still looks live (a network blip: no close reached the presenter, and 15 s of
    silence have not passed): its join replaces that connection, so it is let in, not refused."""
    from bridge.transport.peer import Peer
    from tests.security.attack_tools import receive_type

    warnings: list[str] = []
    presenter = LivePresenter(
        dataclasses.replace(CLIENT, max_connections=2),
        endpoint,
        name="Full",
        on_warning=warnings.append,
    )
    code = await presenter.start()
    bob = LiveAttendee(CLIENT, endpoint, code, name="Bob")
    join = {"type": "attendee_join", "name": "Ada", "mode": "guided"}
    try:
        async with Peer(endpoint, connect_timeout=10 * UNIT) as ada:
            before = await ada.connect(code.id)
            before.send(join)
            assert await receive_type(before, "session_start", 5 * UNIT) is not None
            await bob.join()
            # The blip: Ada's old connection stays open; her new OFFER comes to a full presenter.
            after = await ada.connect(code.id, open_timeout=5 * UNIT)
            after.send(join)
            assert await receive_type(after, "session_start", 5 * UNIT) is not None
            await wait_until(lambda: before.closed.is_set())
            assert sorted(a.name for a in presenter.attendees) == ["Ada", "Bob"]
            assert warnings == []
    finally:
        await bob.close()
        await presenter.stop()


async def test_attendees_starting_together_behind_one_address_all_join(tmp_path: Path) -> None:
    """Our server paces new registrations per address range and answers the excess "Too many
    new connections from this address, try again shortly". Scaled down (bursts of 2, 5/s): a
    presenter and six attendees registering at once from 127.0.0.1 all get in, by waiting."""
    port = free_port()
    env = {
        "PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATION_BURST_PER_IP": "2",
        "PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATIONS_PER_SECOND_PER_IP": "5",
    }
    signal = CliProcess("signal", "--port", str(port), "--state-dir", str(tmp_path), env=env)
    with signal:
        signal.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
        endpoint = SignalingEndpoint.parse(f"http://127.0.0.1:{port}/pathfinder", "pathfinder")
        client = dataclasses.replace(CLIENT, connect_timeout=15 * UNIT)
        presenters = [LivePresenter(client, endpoint, name=f"p{i}") for i in range(2)]
        codes = await asyncio.gather(*(p.start() for p in presenters))  # one is paced
        attendees = [LiveAttendee(client, endpoint, codes[0], name=f"a{i}") for i in range(6)]
        try:
            await asyncio.gather(*(a.join() for a in attendees))
            assert sorted(a.name for a in presenters[0].attendees) == [f"a{i}" for i in range(6)]
        finally:
            await asyncio.gather(*(a.close() for a in attendees))
            await asyncio.gather(*(p.stop() for p in presenters))
