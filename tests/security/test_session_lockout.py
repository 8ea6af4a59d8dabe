"""Red-team finding 2: anyone with the join code locks new attendees out of a session.

The review opened 4 connections from each of 64 peer ids at a presenter, sent attendee_join
on each and echoed heartbeats: it held all 256 places, a real attendee failed with a
misleading "ICE failed", and the presenter saw nothing. Here the same attack runs against a
real `present` process whose places are scaled down (client.max_connections), while a real
attendee (our LiveAttendee) joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from bridge.config import ClientConfig
from bridge.protocol.joincode import JoinCode
from bridge.session.live import LiveAttendee
from bridge.transport.dataconnection import DataConnection
from bridge.transport.peer import Peer
from tests.conftest import UNIT
from tests.security.attack_tools import endpoint, hostile_peer
from tests.servers import CliProcess, our_signaling_server

PLACES = 16
ENV = {"PATHFINDER_BRIDGE_CLIENT_MAX_CONNECTIONS": str(PLACES)}


async def occupy(peers: list[Peer], target: str, per_peer: int) -> list[DataConnection]:
    """`per_peer` joined connections from each peer, as the review's script held them."""
    held: list[DataConnection] = []
    for peer in peers:
        for _ in range(per_peer):
            with contextlib.suppress(Exception):
                connection = await peer.connect(target, open_timeout=5 * UNIT)
                connection.send({"type": "attendee_join", "name": "m", "mode": "guided"})
                held.append(connection)
    return held


@contextlib.asynccontextmanager
async def beating(connections: list[DataConnection]) -> AsyncIterator[None]:
    """Heartbeat echoes on every connection, so none of them looks dead."""

    async def beat() -> None:
        while True:
            for connection in connections:
                with contextlib.suppress(Exception):
                    connection.send({"type": "heartbeat", "sentAt": int(time.time() * 1000)})
            await asyncio.sleep(2)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def real_attendee_joins(server: str, code: JoinCode) -> None:
    attendee = LiveAttendee(ClientConfig(server_url=server), endpoint(server), code, name="Ada")
    try:
        async with asyncio.timeout(40 * UNIT):
            await attendee.join()
    finally:
        await attendee.close()


async def attackers(server: str, count: int) -> list[Peer]:
    peers = [hostile_peer(server) for _ in range(count)]
    for peer in peers:
        await peer.open()
    return peers


async def test_many_connections_from_few_peer_ids_hold_one_place_each() -> None:
    with our_signaling_server() as server:
        with CliProcess("present", "--no-browser", "--server", server, env=ENV) as presenter:
            line = presenter.wait_for(lambda text: text.startswith("Join code: "))
            code = JoinCode.parse(line.split(": ", 1)[1])
            peers = await attackers(server, PLACES // 4)
            try:
                held = await occupy(peers, code.id, 4)  # 4 x 4 = every place
                async with beating(held):
                    # Each new join replaced its peer's previous connection: one each is left.
                    async with asyncio.timeout(10 * UNIT):
                        while sum(not c.closed.is_set() for c in held) > len(peers):  # noqa: ASYNC110
                            await asyncio.sleep(0.05)
                    await real_attendee_joins(server, code)
                presenter.wait_for(lambda text: text.startswith("+ Ada joined"), 10 * UNIT)
            finally:
                for peer in peers:
                    await peer.close()


async def test_a_full_presenter_warns_and_kick_makes_room() -> None:
    with our_signaling_server() as server:
        present = CliProcess("present", "--no-browser", "--server", server, stdin=True, env=ENV)
        with present:
            line = present.wait_for(lambda text: text.startswith("Join code: "))
            code = JoinCode.parse(line.split(": ", 1)[1])
            peers = await attackers(server, PLACES)  # one place each: all of them live
            try:
                held = await occupy(peers, code.id, 1)
                async with beating(held):
                    joining = asyncio.create_task(real_attendee_joins(server, code))
                    warning = await asyncio.to_thread(
                        present.wait_for, lambda text: text.startswith("!! Refusing newcomers")
                    )
                    assert f"all {PLACES} connections are taken" in warning
                    # Every attacker joined as "m": the name alone sends nobody away (it would
                    # send a real attendee away with an impostor of its name) ...
                    present.write("kick m")
                    shared = await asyncio.to_thread(
                        present.wait_for, lambda text: text.startswith("kick: m matches")
                    )
                    assert f"matches {PLACES} attendees" in shared
                    assert all(f"(peer id {peer.id})" in shared for peer in peers)
                    # ... its peer id does, and makes room for the real attendee.
                    present.write(f"kick {peers[0].id}")
                    sent_away = await asyncio.to_thread(
                        present.wait_for, lambda text: text.startswith("Sent away ")
                    )
                    assert f"(peer id {peers[0].id}); this peer id is refused" in sent_away
                    await joining
                present.wait_for(lambda text: text.startswith("+ Ada joined"), 10 * UNIT)
            finally:
                for peer in peers:
                    await peer.close()
