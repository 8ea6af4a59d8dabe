"""Issue 9, item 1, the peers' side: taking over a session.

The review's attacker held the presenter's id (kicked it, or won the race after a restart),
so new attendees reached the attacker; it passed each victim's challenge to the real presenter
over data connections of its own and relayed the signature. Here the attacker holds the id on
a second server the victim uses (the position it needs, without depending on the server's
weaknesses, which the server's own tests cover), and relays to the real presenter process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

from bridge.protocol.crypto import new_nonce
from bridge.protocol.events import (
    DoIt,
    InteractiveAction,
    SessionConfig,
    SessionStart,
    TargetAction,
)
from bridge.protocol.joincode import JoinCode
from bridge.transport.dataconnection import DataConnection
from tests.conftest import UNIT
from tests.security.attack_tools import hostile_peer, receive_type, tcp_proxy
from tests.servers import CliProcess, npm_peer_server, our_signaling_server


async def start_presenter(server: str, *extra: str) -> tuple[CliProcess, str]:
    presenter = CliProcess(
        "present", "--no-browser", "--server", server, "--name", "Real", *extra, stdin=True
    )
    line = await asyncio.to_thread(
        presenter.wait_for, lambda text: text.startswith("Join code: "), 20 * UNIT
    )
    return presenter, line.split(": ", 1)[1]


def remaining_stdout(process: CliProcess) -> list[str]:
    lines = list(process.seen)
    while (line := process.lines.get(timeout=5 * UNIT)) is not None:
        lines.append(line)
    return lines


def hostile_events(session_id: str) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    base = {"sessionId": session_id, "timestamp": now, "senderId": "presenter"}
    start = SessionStart(config=SessionConfig("Real", "https://grafana.com/docs/x"), **base)
    delete = DoIt(
        stepId="delete-all", action=InteractiveAction(TargetAction.BUTTON, "Delete"), **base
    )
    return [start.to_wire(), delete.to_wire()]


async def test_a_relayed_presenter_proof_is_refused_and_nothing_is_performed() -> None:
    with our_signaling_server() as real_server, our_signaling_server() as attacker_server:
        presenter, code = await start_presenter(real_server)
        session_id = JoinCode.parse(code).id
        holder = hostile_peer(attacker_server, session_id)  # the attacker holds the id
        relay = hostile_peer(real_server)  # and reaches the real presenter
        with presenter:
            await holder.open()
            await relay.open()
            try:
                # Once as it comes, once with our extension stripped (asking for a plain proof).
                for strip_extension in (False, True):
                    victim = CliProcess(
                        "follow", code, "--server", attacker_server, "--no-browser", "--json",
                        "--mode", "follow", "--name", "Victim",
                    )  # fmt: skip
                    with victim:
                        incoming = await asyncio.wait_for(holder.accept(), 20 * UNIT)
                        challenge = await receive_type(incoming, "presenter_challenge", 10 * UNIT)
                        assert challenge is not None
                        if strip_extension:
                            challenge = {"type": challenge["type"], "nonce": challenge["nonce"]}
                        upstream = await relay.connect(session_id)
                        upstream.send(challenge)
                        response = await receive_type(upstream, "presenter_response", 10 * UNIT)
                        assert response is not None, "the real presenter must sign: attack mounted"
                        incoming.send(response)
                        for event in hostile_events(session_id):
                            incoming.send(event)
                        joined = await receive_type(incoming, "attendee_join", 3 * UNIT)
                        assert joined is None  # it never joined the relay
                        status = await asyncio.to_thread(victim.process.wait, 20 * UNIT)
                        output = remaining_stdout(victim)
                        assert status != 0 and "failed the identity check" in victim.stderr
                        assert output == []  # no event was passed on, so none performed
                        await upstream.close()
            finally:
                await holder.close()
                await relay.close()


async def test_the_presenter_caps_its_challenges() -> None:
    with our_signaling_server() as server:
        presenter, code = await start_presenter(server)
        session_id = JoinCode.parse(code).id
        attacker, latecomer = hostile_peer(server), hostile_peer(server)
        with presenter:
            await attacker.open()
            await latecomer.open()
            try:
                # One remote peer id keeps opening connections (closing each, as the
                # presenter also caps open connections per peer), one challenge on each.
                answered: list[DataConnection] = []
                for _ in range(8):
                    connection = await attacker.connect(session_id)
                    connection.send({"type": "presenter_challenge", "nonce": new_nonce()})
                    if await receive_type(connection, "presenter_response", 2 * UNIT):
                        answered.append(connection)
                    if connection is not answered[0]:
                        await connection.close()
                assert len(answered) == 6  # per remote peer id and minute
                first = answered[0]
                # A second challenge on an answered connection, and one after joining.
                first.send({"type": "presenter_challenge", "nonce": new_nonce()})
                joined = await latecomer.connect(session_id)
                joined.send({"type": "attendee_join", "name": "Mallory", "mode": "guided"})
                assert await receive_type(joined, "session_start", 5 * UNIT) is not None
                joined.send({"type": "presenter_challenge", "nonce": new_nonce()})
                late = await asyncio.gather(
                    receive_type(first, "presenter_response", 3 * UNIT),
                    receive_type(joined, "presenter_response", 3 * UNIT),
                )
                assert late == [None, None]
            finally:
                await attacker.close()
                await latecomer.close()


@pytest.mark.interop
async def test_a_presenter_whose_id_is_taken_keeps_trying_and_gets_it_back() -> None:
    # npm `peer` (Pathfinder's own server) frees an id as soon as its socket drops: a
    # presenter cut off for a moment finds its id held by someone else when it comes back.
    with npm_peer_server() as server_url:
        server_port = int(server_url.split(":")[2].split("/")[0])
        with tcp_proxy(server_port) as proxy:
            presenter, code = await start_presenter(proxy.url())
            session_id = JoinCode.parse(code).id
            with presenter:
                proxy.cut()  # the presenter is away; the attacker registers its id
                url = (
                    f"ws://127.0.0.1:{server_port}/pathfinder/peerjs?key=pathfinder"
                    f"&id={session_id}&token=attacker&version=1.5.5"
                )
                async with asyncio.timeout(10 * UNIT):
                    while True:
                        holder = await connect(url)
                        if '"OPEN"' in str(await holder.recv()):
                            break
                        await holder.close()
                        await asyncio.sleep(0.05)
                accepted_before = proxy.accepted
                proxy.restore()
                loud = await asyncio.to_thread(
                    presenter.wait_for, lambda text: "Someone else holds" in text, 20 * UNIT
                )
                assert session_id in loud
                await asyncio.sleep(3 * UNIT)
                assert presenter.process.poll() is None
                assert proxy.accepted >= accepted_before + 2  # still re-registering
                await holder.close()  # the holder goes: the id is free again
                back = await asyncio.to_thread(
                    presenter.wait_for, lambda text: "is ours again" in text, 20 * UNIT
                )
                assert session_id in back
                attendee = CliProcess("follow", code, "--server", proxy.url(), "--no-browser")
                with attendee:
                    await asyncio.to_thread(
                        attendee.wait_for, lambda text: text.startswith("Joined session"), 30 * UNIT
                    )
