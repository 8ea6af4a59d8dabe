"""Issue 9, item 3: an OFFER flood on a presenter.

Each OFFER used to cost the presenter an aiortc connection (two UDP sockets) for 15 s with no
cap, and an ANSWER on its signaling socket: 600 OFFERs exhausted 1,024 file descriptors, and
80 OFFERs/s pushed its ANSWERs past the server's rate limit so real joins failed. Here 40
hostile peers send 100 OFFERs/s for 8 s (each a real aiortc offer, whose ICE never completes)
at a real presenter process while a real attendee joins (40 peers: more than the presenter
has negotiation slots for, so the attendee must be let in by the fairness rules).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time

from aiortc import RTCPeerConnection
from websockets.asyncio.client import ClientConnection, connect

from bridge.protocol.joincode import JoinCode
from tests.conftest import UNIT
from tests.security.attack_tools import open_fds
from tests.servers import CliProcess, our_signaling_server

ATTACKERS = 40
OFFERS_PER_SECOND = 100
FLOOD_SECONDS = 8
#: Open files the flood may add to the presenter: 64 negotiations under way (two UDP sockets
#: each), the real attendee's connection, and 30 for evicted negotiations still closing.
FD_BOUND = 160


async def offer_sdp() -> str:
    pc = RTCPeerConnection()
    pc.createDataChannel("flood")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()  # nobody will answer the presenter's ICE checks
    return sdp


async def register(server: str, peer_id: str) -> ClientConnection:
    ws_url = server.replace("http://", "ws://")
    socket = await connect(f"{ws_url}/peerjs?key=pathfinder&id={peer_id}&token=t&version=1.5.5")
    assert json.loads(await socket.recv())["type"] == "OPEN"
    return socket


async def flood(server: str, target: str, sdp: str) -> int:
    sockets = [
        await register(server, f"flood-{i}-{secrets.token_hex(3)}") for i in range(ATTACKERS)
    ]
    sent = 0
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < FLOOD_SECONDS:
            due = int(elapsed * OFFERS_PER_SECOND)
            while sent < due:
                payload = {
                    "sdp": {"type": "offer", "sdp": sdp},
                    "type": "data",
                    "connectionId": f"dc_{secrets.token_hex(5)}",
                    "label": "flood",
                    "reliable": True,
                    "serialization": "binary",
                }
                message = {"type": "OFFER", "dst": target, "payload": payload}
                await sockets[sent % ATTACKERS].send(json.dumps(message))
                sent += 1
            await asyncio.sleep(0.01)
    finally:
        for socket in sockets:
            await socket.close()
    return sent


async def test_a_real_attendee_joins_through_an_offer_flood_and_fds_stay_bounded() -> None:
    with our_signaling_server() as server:
        presenter = CliProcess("present", "--no-browser", "--server", server, "-v", stdin=True)
        with presenter:
            line = await asyncio.to_thread(
                presenter.wait_for, lambda text: text.startswith("Join code: "), 20 * UNIT
            )
            code = line.split(": ", 1)[1]
            pid = presenter.process.pid
            baseline = open_fds(pid)
            peak = [baseline]
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.is_set():
                    peak[0] = max(peak[0], open_fds(pid))
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            flooding = asyncio.create_task(
                flood(server, JoinCode.parse(code).id, await offer_sdp())
            )
            try:
                await asyncio.sleep(2)  # the flood is under way
                attendee = CliProcess("follow", code, "--server", server, "--no-browser")
                with attendee:
                    joined_at = time.monotonic()
                    await asyncio.to_thread(
                        attendee.wait_for, lambda text: text.startswith("Joined session"), 45 * UNIT
                    )
                    join_seconds = time.monotonic() - joined_at
                    presenter.write(
                        '{"type":"show_me","stepId":"s1","action":{"targetAction":"highlight","refTarget":"#x"}}'
                    )
                    await asyncio.to_thread(
                        attendee.wait_for, lambda text: "show_me" in text, 20 * UNIT
                    )
                sent = await flooding
            finally:
                flooding.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flooding
                sampling.set()
                sampler.join()
            print(
                f"\nOFFER flood: {sent} OFFERs in {FLOOD_SECONDS} s from {ATTACKERS} peers; "
                f"presenter fds {baseline} -> peak {peak[0]} (bound +{FD_BOUND}); "
                f"attendee joined in {join_seconds:.1f} s"
            )
            assert sent >= OFFERS_PER_SECOND * FLOOD_SECONDS * 0.9
            assert peak[0] - baseline <= FD_BOUND
            assert "Rate limit" not in presenter.stderr  # no ANSWER of ours was throttled
            assert "Too many open files" not in presenter.stderr
            assert "to make room for" in presenter.stderr  # the slots were full: fairness ran
