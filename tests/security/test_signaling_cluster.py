"""Issue 9's signaling defences where their state moved to Redis (cluster mode, issue 11).

Each mounts the attack on two real `signal --redis` instances over one real redis-server:
the flood from one instance at a presenter on the other, the racer after its instance was
killed, queue budgets spent from two instances, reservation caps per address across
instances.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import UNIT
from tests.security.test_signaling_takeover import expires, first_from, flood_offers
from tests.servers import cluster_of_two, signal_instance


@asynccontextmanager
async def peer(
    port: int, id: str, token: str = "t", *, receive_buffer: int | None = None
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    sock = None
    if receive_buffer is not None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect(("127.0.0.1", port))
    async with connect(
        f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token={token}",
        sock=sock,
        open_timeout=10 * UNIT,
        max_queue=1,
        max_size=None,
    ) as ws:
        async with asyncio.timeout(10 * UNIT):
            answer = json.loads(await ws.recv())
        yield ws, answer


async def first_answer(port: int, id: str, token: str) -> str:
    async with peer(port, id, token) as (_, answer):
        return str(answer["type"])


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5 * UNIT) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def test_a_flood_from_another_instance_does_not_free_the_presenters_id() -> None:
    with cluster_of_two(proxy=False) as cluster:
        a, b = cluster.ports
        async with (
            peer(a, "pres01", "ownertoken", receive_buffer=4096) as (presenter, opened),
            peer(b, "witness") as (witness, _),
        ):
            assert opened == {"type": "OPEN"}
            expired = 0
            for n in range(2):
                async with peer(b, f"attacker{n}", "a") as (attacker, _):
                    await flood_offers(attacker, "pres01")
                    await attacker.send(
                        json.dumps({"type": "OFFER", "dst": "witness", "payload": {}})
                    )
                    assert (await first_from(witness, f"attacker{n}"))["src"] == f"attacker{n}"
                    expired += await expires(attacker, "pres01", f"attacker{n}", 2 * UNIT)
            # Refused back to the senders across instances, and the id stays the owner's.
            assert expired > 0
            assert await first_answer(a, "pres01", "attackertoken") == "ID-TAKEN"
            assert await first_answer(b, "pres01", "attackertoken") == "ID-TAKEN"
            await presenter.send('{"type":"HEARTBEAT"}')
            hello = {"type": "OFFER", "dst": "pres01", "payload": {"hello": 1}}
            async with asyncio.timeout(30 * UNIT), asyncio.TaskGroup() as group:
                reader = group.create_task(first_from(presenter, "witness"))
                while not reader.done():
                    await witness.send(json.dumps(hello))
                    with suppress(TimeoutError):
                        async with asyncio.timeout(0.5 * UNIT):
                            await witness.recv()
            assert reader.result() == {**hello, "src": "witness"}


async def test_after_its_instance_is_killed_and_restarted_a_racer_does_not_get_the_id(
    tmp_path: Path,
) -> None:
    grace = 4.0 * UNIT
    with cluster_of_two("--reservation-grace", str(grace), proxy=False) as cluster:
        a, b = cluster.ports
        async with peer(a, "pres01", "owner1") as (_, first):
            assert first == {"type": "OPEN"}
            cluster.instances[0].process.send_signal(signal.SIGKILL)
            cluster.instances[0].process.wait(10 * UNIT)
        restarted = signal_instance(a, cluster.redis.url, "/tmp", "--reservation-grace", str(grace))
        with restarted:
            restarted.wait_for(lambda line: line.startswith("Ready for connections"))
            for port in (a, b):
                assert await first_answer(port, "pres01", "attacker") == "ID-TAKEN"
            async with peer(a, "pres01", "owner1") as (_, answer):
                assert answer == {"type": "OPEN"}
            restarted.stop()


async def test_queue_budgets_hold_across_instances() -> None:
    total = 64 * 1024
    env = {
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_QUEUED_BYTES_TOTAL": str(total),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_QUEUED_BYTES_PER_SENDER": str(48 * 1024),
    }
    with cluster_of_two("--expire-timeout", "30", proxy=False, env=env) as cluster:
        a, b = cluster.ports
        filler = {"sdp": {"type": "offer", "sdp": "a" * 8000}, "type": "data"}
        answers: dict[str, list[str]] = {}
        async with peer(a, "bomb1") as (one, _), peer(b, "bomb2") as (two, _):
            for name, ws in (("bomb1", one), ("bomb2", two)):
                for i in range(8):
                    await ws.send(
                        json.dumps({"type": "OFFER", "dst": f"{name}ghost{i}", "payload": filler})
                    )
                answers[name] = []
                with suppress(TimeoutError):
                    async with asyncio.timeout(1.5 * UNIT):
                        while True:
                            message = json.loads(await ws.recv())
                            answers[name].append(
                                message.get("payload", {}).get("msg") or message["type"]
                            )
            # Realm-wide figures are read from Redis at least every second.
            async with asyncio.timeout(5 * UNIT):
                while not (  # noqa: ASYNC110
                    queued := await asyncio.to_thread(
                        metric, cluster.instance_urls[0], "pathfinder_signaling_queued_bytes"
                    )
                ):
                    await asyncio.sleep(0.1)
        # One sender's budget: ERROR to that sender; the shared budget: EXPIRE, as one server.
        assert "Too much waiting for absent peers from you, message dropped" in answers["bomb1"]
        assert "EXPIRE" in answers["bomb2"]
        assert 0 < queued <= total


async def test_reservation_caps_per_address_hold_across_instances() -> None:
    env = {"PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_RESERVATIONS_PER_IP": "3"}
    with cluster_of_two(proxy=False, env=env) as cluster:
        a, b = cluster.ports
        async with (
            peer(a, "cap1") as (_, one),
            peer(a, "cap2") as (_, two),
            peer(b, "cap3") as (
                _,
                three,
            ),
        ):
            assert one == two == three == {"type": "OPEN"}
            async with peer(b, "cap4") as (_, four):
                assert four == {
                    "type": "ERROR",
                    "payload": {"msg": "Too many connections from this address"},
                }
            # Ids already reserved are still given back to their tokens.
            async with peer(b, "cap1") as (_, again):
                assert again == {"type": "OPEN"}


async def test_owners_coming_back_to_reserved_ids_are_not_paced_in_a_cluster() -> None:
    """Issue 9 (a review): the registration pace refused owners coming back for their reserved
    ids (after a restart or a network blip). In a cluster, Redis knows whether an id is
    reserved for the token: its claim script refuses a paced claim only for a new id."""
    env = {
        "PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATION_BURST_PER_IP": "3",
        "PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATIONS_PER_SECOND_PER_IP": "0.01",
        "PATHFINDER_BRIDGE_SERVER_LIMITS_RESERVATION_MIN_CONNECTED": "0",
    }
    with cluster_of_two("--reservation-grace", "60", proxy=False, env=env) as cluster:
        a, b = cluster.ports
        owners = [(port, f"own{port}x{n}") for port in (a, b) for n in range(3)]
        for port, id in owners:  # each instance's burst: 3 new ids
            assert await first_answer(port, id, f"tok{id}") == "OPEN"
        # All six come back to one instance whose pace is spent, at once.
        answers = await asyncio.gather(*(first_answer(a, id, f"tok{id}") for _, id in owners))
        assert answers == ["OPEN"] * 6
        assert await first_answer(a, "newcomer", "t") == "ERROR"  # still paced
        assert await first_answer(a, owners[0][1], "thief") == "ID-TAKEN"
