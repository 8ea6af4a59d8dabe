"""Cluster mode under faults: an instance killed with SIGKILL mid-session, and Redis killed
and restarted mid-session. Real processes: redis-server, two `signal --redis` instances,
HAProxy."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import UNIT
from tests.servers import cluster_of_two

ALIVE_TIMEOUT = 3.0


@asynccontextmanager
async def peer(port: int, id: str, token: str = "tok") -> AsyncIterator[ClientConnection]:
    async with connect(
        f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token={token}",
        open_timeout=10 * UNIT,
    ) as ws:
        yield ws


async def first_answer(port: int, id: str, token: str) -> dict[str, Any]:
    async with peer(port, id, token) as ws:
        return await recv_json(ws)


async def recv_json(ws: ClientConnection, seconds: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(seconds * UNIT):
        data = json.loads(await ws.recv())
    assert isinstance(data, dict)
    return data


def metric(url: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5 * UNIT) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def until_metric(url: str, name: str, value: float, seconds: float = 20.0) -> None:
    async with asyncio.timeout(seconds * UNIT):
        while await asyncio.to_thread(metric, url, name) != value:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


def offer(dst: str, n: int) -> str:
    return json.dumps({"type": "OFFER", "dst": dst, "payload": {"sdp": {"type": "offer"}, "n": n}})


async def test_an_instance_killed_mid_session_its_peers_move_to_the_other() -> None:
    with cluster_of_two(
        "--alive-timeout", str(ALIVE_TIMEOUT), "--reservation-grace", "0"
    ) as cluster:
        a, b = cluster.ports
        async with (
            peer(a, "k1pres", "owner") as presenter,
            peer(b, "k1att") as attendee,
            peer(a, "k1gone", "g") as gone,
        ):
            for ws in (presenter, attendee, gone):
                assert await recv_json(ws) == {"type": "OPEN"}
            await attendee.send(offer("k1pres", 1))
            assert (await recv_json(presenter))["payload"]["n"] == 1
            cluster.instances[0].process.send_signal(signal.SIGKILL)
            cluster.instances[0].process.wait(10 * UNIT)
            killed = time.monotonic()
            # The presenter reconnects to the live instance with its id and token: at once.
            async with peer(b, "k1pres", "owner") as moved:
                assert await recv_json(moved) == {"type": "OPEN"}
                assert (await first_answer(b, "k1pres", "thief"))["type"] == "ID-TAKEN"
                await attendee.send(offer("k1pres", 2))
                assert (await recv_json(moved))["payload"]["n"] == 2
                await moved.send(offer("k1att", 3))
                assert (await recv_json(attendee))["payload"]["n"] == 3
            # A peer of the dead instance that never comes back frees its id within
            # alive_timeout (the lease its instance no longer renews; reservations off here).
            async with asyncio.timeout((ALIVE_TIMEOUT + 10) * UNIT):
                while (await first_answer(b, "k1gone", "someone"))["type"] == "ID-TAKEN":  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            assert time.monotonic() - killed <= ALIVE_TIMEOUT + 2 * UNIT
        assert "Traceback" not in cluster.instances[1].stderr


async def test_through_haproxy_peers_of_a_killed_instance_reconnect_with_their_ids() -> None:
    with cluster_of_two("--reservation-grace", "30") as cluster:
        port = int(cluster.proxy_url.split(":")[2].split("/")[0])
        ids = [f"k2p{n}" for n in range(6)]
        sockets = []
        for id in ids:
            ws = await connect(
                f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token=t{id}",
                open_timeout=10 * UNIT,
            )
            sockets.append(ws)
            assert await recv_json(ws) == {"type": "OPEN"}
        cluster.instances[0].process.send_signal(signal.SIGKILL)
        cluster.instances[0].process.wait(10 * UNIT)
        for ws in sockets:
            await ws.close()
        # Every peer comes back through HAProxy, which now knows one instance only.
        again = []
        for id in ids:
            async with asyncio.timeout(15 * UNIT):
                while True:
                    with suppress(OSError, ConnectionClosed, TimeoutError):
                        ws = await connect(
                            f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder"
                            f"&id={id}&token=t{id}",
                            open_timeout=5 * UNIT,
                        )
                        answer = await recv_json(ws)
                        if answer == {"type": "OPEN"}:
                            again.append(ws)
                            break
                        await ws.close()
                    await asyncio.sleep(0.2)
        try:
            # Their ids are still theirs: another token is refused through HAProxy too.
            assert (await first_answer(port, "k2p0", "thief"))["type"] == "ID-TAKEN"
            for n in range(6):
                await again[n].send(offer(ids[(n + 1) % 6], n))
            for n in range(6):
                assert (await recv_json(again[(n + 1) % 6]))["payload"]["n"] == n
        finally:
            for ws in again:
                await ws.close()


async def test_redis_restarted_mid_session() -> None:
    """Local relays go on, cross-instance messages answer EXPIRE, new peers are refused with
    an ERROR, a metric and a log line say so; once Redis is back every peer is registered
    again. Numbered messages flow the whole time: none arrives twice or out of order."""
    with cluster_of_two("--alive-timeout", "30") as cluster:
        a, b = cluster.ports
        url_a, url_b = cluster.instance_urls
        async with (
            peer(a, "r1l1") as l1,
            peer(a, "r1l2") as l2,
            peer(a, "r1c1", "c1") as c1,
            peer(b, "r1c2", "c2") as c2,
        ):
            for ws in (l1, l2, c1, c2):
                assert await recv_json(ws) == {"type": "OPEN"}
            got: dict[str, list[int]] = {"local": [], "cross": []}
            expired = 0
            running = True

            async def send(ws: ClientConnection, dst: str) -> None:
                n = 0
                while running:
                    await ws.send(offer(dst, n))
                    await ws.send('{"type":"HEARTBEAT"}')
                    n += 1
                    await asyncio.sleep(0.02)

            async def receive(ws: ClientConnection, key: str) -> None:
                nonlocal expired
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "OFFER":
                        got[key].append(message["payload"]["n"])
                    elif message["type"] == "EXPIRE":
                        expired += 1

            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(send(l1, "r1l2")),
                    group.create_task(send(c1, "r1c2")),
                    group.create_task(receive(l2, "local")),
                    group.create_task(receive(c2, "cross")),
                    group.create_task(receive(c1, "c1")),
                ]
                await asyncio.sleep(0.5)
                cluster.redis.stop()
                await until_metric(url_a, "pathfinder_signaling_cluster_redis_up", 0)
                local_during = len(got["local"])
                await asyncio.sleep(1.0)
                assert len(got["local"]) > local_during + 10  # local relays go on
                refused = await first_answer(b, "r1new", "n")
                assert refused == {
                    "type": "ERROR",
                    "payload": {"msg": "Signaling cluster unavailable, try again shortly"},
                }
                cluster.redis.start()  # empty: it kept nothing
                await until_metric(url_a, "pathfinder_signaling_cluster_redis_up", 1)
                await until_metric(url_b, "pathfinder_signaling_cluster_redis_up", 1)
                cross_after = len(got["cross"])
                await asyncio.sleep(1.0)
                assert len(got["cross"]) > cross_after + 10  # across instances again
                running = False
                await asyncio.sleep(0.3)
                for task in tasks:
                    task.cancel()
        for key in ("local", "cross"):
            numbers = got[key]
            assert numbers == sorted(set(numbers)), f"{key}: a message twice or out of order"
        assert got["local"] == list(range(len(got["local"])))  # and nothing lost locally
        assert expired > 0  # cross-instance messages during the outage answered EXPIRE
        # Registered again: the ids are their tokens' on every instance.
        assert (await first_answer(b, "r1c1", "thief"))["type"] == "ID-TAKEN"
        assert (await first_answer(a, "r1c2", "thief"))["type"] == "ID-TAKEN"
        assert (
            await asyncio.to_thread(
                metric, url_a, "pathfinder_signaling_cluster_redis_outages_total"
            )
            == 1
        )
        stderr = cluster.instances[0].stderr
        assert "[Cluster] Redis at redis://127.0.0.1:" in stderr and "is unreachable" in stderr
        assert "is back: 3 peers of this instance registered again" in stderr
        assert "Traceback" not in stderr + cluster.instances[1].stderr
