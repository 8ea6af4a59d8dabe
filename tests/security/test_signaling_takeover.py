"""Issue 9, attack 1, step 1: taking a presenter's id on the signaling server.

Mounted as the review did, on the real `pathfinder-bridge signal` process over 127.0.0.1:
a burst of 64 KiB OFFERs at a presenter that reads slowly, then registering its id; and
racing the owner for its id after the server was killed and restarted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import UNIT
from tests.servers import CliProcess, free_port

#: An OFFER payload as PeerJS shapes it, filling a frame to just under the 64 KiB limit.
BIG_OFFER = {
    "sdp": {"type": "offer", "sdp": "v=0\r\n" + "a" * 65_000},
    "type": "data",
    "connectionId": "dc_flood",
}


@contextmanager
def signaling_server(
    port: int, state_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[CliProcess]:
    server = CliProcess(
        "signal", "--port", str(port), "--state-dir", str(state_dir), *extra, env=env
    )
    with server:
        server.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
        yield server


def url(port: int, id: str, token: str) -> str:
    return f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token={token}"


async def recv_json(ws: ClientConnection, seconds: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(seconds * UNIT):
        data = json.loads(await ws.recv())
    assert isinstance(data, dict)
    return data


@asynccontextmanager
async def peer(
    port: int, id: str, token: str, *, receive_buffer: int | None = None
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    """A PeerJS-style socket and the server's first answer (OPEN, ID-TAKEN or ERROR).

    `receive_buffer` shrinks the kernel's receive buffer: a reader that falls behind (as a
    busy presenter does) backs up into the server sooner, with fewer attack messages.
    """
    sock = None
    if receive_buffer is not None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect(("127.0.0.1", port))
    async with connect(
        url(port, id, token), sock=sock, open_timeout=10 * UNIT, max_queue=1, max_size=None
    ) as ws:
        yield ws, await recv_json(ws)


async def first_answer(port: int, id: str, token: str) -> str:
    async with peer(port, id, token) as (_, answer):
        return str(answer["type"])


async def flood_offers(attacker: ClientConnection, dst: str, count: int = 200) -> None:
    """`count` 64 KiB OFFERs to `dst` (200: the rate limiter's whole bucket)."""
    for _ in range(count):
        await attacker.send(json.dumps({"type": "OFFER", "dst": dst, "payload": BIG_OFFER}))


async def expires(ws: ClientConnection, src: str, dst: str, seconds: float) -> int:
    """How many EXPIREs from `src` to `dst` arrive within `seconds`."""
    count = 0
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                message = json.loads(await ws.recv())
                if message == {"type": "EXPIRE", "src": src, "dst": dst}:
                    count += 1
    return count


async def test_a_flood_of_offers_does_not_free_the_presenters_id(tmp_path: Path) -> None:
    port = free_port()
    with signaling_server(port, tmp_path):
        async with (
            peer(port, "pres01", "ownertoken", receive_buffer=4096) as (presenter, opened),
            peer(port, "witness", "w") as (witness, _),
        ):
            assert opened == {"type": "OPEN"}
            # The presenter is busy and reads nothing while two sockets each send their whole
            # burst (200, the rate limiter's bucket) of 64 KiB OFFERs at it.
            expired = 0
            for n in range(2):
                async with peer(port, f"attacker{n}", "a") as (attacker, _):
                    await flood_offers(attacker, "pres01")
                    # Frames of one socket are handled in order: once the witness has this
                    # one, the server has handled the whole burst.
                    await attacker.send(
                        json.dumps({"type": "OFFER", "dst": "witness", "payload": {}})
                    )
                    assert (await recv_json(witness))["src"] == f"attacker{n}"
                    expired += await expires(attacker, "pres01", f"attacker{n}", 0.5 * UNIT)
            # The presenter kept its id: registering it with another token fails...
            assert await first_answer(port, "pres01", "attackertoken") == "ID-TAKEN"
            # ...because the flood was refused back to its senders.
            assert expired > 0
            # The presenter is still connected, and reachable again once it has caught up:
            # it reads while the witness retries on EXPIRE, as an attendee would.
            await presenter.send('{"type":"HEARTBEAT"}')
            hello = {"type": "OFFER", "dst": "pres01", "payload": {"hello": 1}}
            async with asyncio.timeout(30 * UNIT), asyncio.TaskGroup() as group:
                reader = group.create_task(first_from(presenter, "witness"))
                while not reader.done():
                    await witness.send(json.dumps(hello))
                    with suppress(TimeoutError):
                        async with asyncio.timeout(0.5 * UNIT):
                            await witness.recv()  # EXPIRE while the presenter catches up
            assert reader.result() == {**hello, "src": "witness"}


async def first_from(ws: ClientConnection, src: str) -> dict[str, Any]:
    while True:
        message = json.loads(await ws.recv())
        if message.get("src") == src:
            assert isinstance(message, dict)
            return message


async def test_after_a_restart_the_owner_gets_its_id_back_and_a_racer_does_not(
    tmp_path: Path,
) -> None:
    port = free_port()
    grace = 4.0 * UNIT
    reservations = tmp_path / f"signal-{port}.reservations.json"
    with signaling_server(port, tmp_path, "--reservation-grace", str(grace)) as server:
        async with (
            peer(port, "pres01", "owner1") as (_, first),
            peer(port, "pres02", "owner2") as (_, second),
        ):
            assert first == second == {"type": "OPEN"}
            await until_reserved(reservations, {"pres01", "pres02"})
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10 * UNIT)

    restarted = time.monotonic()  # before the server loads its file: a safe lower bound
    with signaling_server(port, tmp_path, "--reservation-grace", str(grace)):
        # An attacker racing the owners loses, whoever comes first...
        assert await first_answer(port, "pres01", "attacker") == "ID-TAKEN"
        assert await first_answer(port, "pres02", "attacker") == "ID-TAKEN"
        # ...and the owner of pres01 (same token) gets its id back.
        async with peer(port, "pres01", "owner1") as (_, answer):
            assert answer == {"type": "OPEN"}
            # pres02's owner never comes back: its id is free once the grace period is over.
            while await first_answer(port, "pres02", "attacker") == "ID-TAKEN":
                assert time.monotonic() - restarted < grace + 10 * UNIT, "never freed"
                await asyncio.sleep(0.2)
            assert time.monotonic() - restarted >= grace  # and not a moment before
            assert await first_answer(port, "pres01", "attacker") == "ID-TAKEN"


async def until_reserved(path: Path, ids: set[str]) -> None:
    """Wait until the server has written these ids to its reservation file."""

    def written() -> set[str]:
        try:
            return {entry["id"] for entry in json.loads(path.read_text())["reservations"]}
        except (OSError, ValueError, KeyError):
            return set()

    try:
        async with asyncio.timeout(10 * UNIT):
            while not ids <= await asyncio.to_thread(written):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"the server never wrote {sorted(ids)} to {path}")


async def test_a_closed_presenter_socket_is_not_a_way_in(tmp_path: Path) -> None:
    """The simplest kick: the presenter's socket closes (a network blip); the id waits for it."""
    port = free_port()
    min_connected = {"PATHFINDER_BRIDGE_SERVER_LIMITS_RESERVATION_MIN_CONNECTED": "0.3"}
    with signaling_server(port, tmp_path, env=min_connected):
        async with peer(port, "pres01", "owner") as (presenter, _):
            await asyncio.sleep(0.4)  # a presenter that was up, not one that never stayed
        with suppress(ConnectionClosed):
            await presenter.recv()
        assert await first_answer(port, "pres01", "attacker") == "ID-TAKEN"
        assert await first_answer(port, "pres01", "owner") == "OPEN"
