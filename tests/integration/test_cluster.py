"""Cluster mode: the single server's rules with the two peers on different instances.

A real `redis-server`, two `pathfinder-bridge signal --redis` processes and HAProxy
(deploy/haproxy.cfg) on free loopback ports, shared by this module; every test uses ids
of its own.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import UNIT
from tests.servers import ClusterOfTwo, cluster_of_two

ALIVE_TIMEOUT = 2.0
EXPIRE_TIMEOUT = 0.5
GRACE = 2.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterOfTwo]:
    with cluster_of_two(
        "--alive-timeout",
        str(ALIVE_TIMEOUT),
        "--expire-timeout",
        str(EXPIRE_TIMEOUT),
        "--reservation-grace",
        str(GRACE),
        "--allow-discovery",
    ) as running:
        yield running


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def dial(port: int, id: str, token: str = "tok") -> AbstractAsyncContextManager[ClientConnection]:
    return connect(
        f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token={token}"
        "&version=1.5.5",
        open_timeout=10 * UNIT,
    )


async def recv_json(ws: ClientConnection, seconds: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(seconds * UNIT):
        data = json.loads(await ws.recv())
    assert isinstance(data, dict)
    return data


async def nothing_more(ws: ClientConnection, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds * UNIT):
            await ws.recv()


async def assert_closed(ws: ClientConnection) -> None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(5 * UNIT):
            while True:
                await ws.recv()


def offer(dst: str, n: int = 0) -> str:
    return json.dumps({"type": "OFFER", "dst": dst, "payload": {"sdp": {"type": "offer"}, "n": n}})


def metrics(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5 * UNIT) as response:
        return str(response.read().decode())


def http_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5 * UNIT) as response:
        return json.loads(response.read())


def metric(url: str, name: str) -> float:
    for line in metrics(url).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def test_relay_across_instances_sets_src(cluster: ClusterOfTwo) -> None:
    a, b = cluster.ports
    async with dial(a, "x1alice") as alice, dial(b, "x1bob") as bob:
        assert await recv_json(alice) == {"type": "OPEN"}
        assert await recv_json(bob) == {"type": "OPEN"}
        for kind in ("OFFER", "ANSWER", "CANDIDATE"):
            await alice.send(json.dumps({"type": kind, "dst": "x1bob", "payload": {"x": kind}}))
            assert await recv_json(bob) == {
                "type": kind,
                "src": "x1alice",
                "dst": "x1bob",
                "payload": {"x": kind},
            }
        await bob.send(json.dumps({"type": "LEAVE", "dst": "x1alice"}))
        assert await recv_json(alice) == {"type": "LEAVE", "src": "x1bob", "dst": "x1alice"}
        # A forged src is rebuilt, not spliced: the receiver sees the real sender.
        await alice.send(
            json.dumps({"type": "OFFER", "dst": "x1bob", "src": "x1evil", "payload": {}})
        )
        assert (await recv_json(bob))["src"] == "x1alice"


async def test_order_per_sender_across_instances(cluster: ClusterOfTwo) -> None:
    a, b = cluster.ports
    async with dial(a, "x2s") as sender, dial(b, "x2r") as receiver:
        await recv_json(sender)
        await recv_json(receiver)
        for n in range(150):
            await sender.send(offer("x2r", n))
        got = [(await recv_json(receiver))["payload"]["n"] for _ in range(150)]
        assert got == list(range(150))


async def test_id_taken_across_instances_and_a_reconnect_moves_the_id(
    cluster: ClusterOfTwo,
) -> None:
    a, b = cluster.ports
    async with dial(a, "x3pres", token="owner") as first:
        assert await recv_json(first) == {"type": "OPEN"}
        async with dial(b, "x3pres", token="thief") as thief:
            assert await recv_json(thief) == {"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}
            await assert_closed(thief)
        # The same token on the other instance takes the id over; the old socket is closed.
        async with dial(b, "x3pres", token="owner") as second:
            assert await recv_json(second) == {"type": "OPEN"}
            await assert_closed(first)
            async with dial(a, "x3att") as attendee:
                await recv_json(attendee)
                await attendee.send(offer("x3pres"))
                assert (await recv_json(second))["src"] == "x3att"
            async with dial(a, "x3pres", token="thief") as thief:
                assert (await recv_json(thief))["type"] == "ID-TAKEN"


async def test_a_queued_offer_is_delivered_on_the_other_instance(cluster: ClusterOfTwo) -> None:
    a, b = cluster.ports
    async with dial(a, "x4alice") as alice:
        await recv_json(alice)
        await alice.send(offer("x4late", 1))
        await alice.send(offer("x4late", 2))
        await asyncio.sleep(0.1)
        async with dial(b, "x4late") as late:
            assert await recv_json(late) == {"type": "OPEN"}
            assert [(await recv_json(late))["payload"]["n"] for _ in range(2)] == [1, 2]
            await nothing_more(late, 0.3)
        # Delivered, so never expired: alice hears nothing.
        await nothing_more(alice, EXPIRE_TIMEOUT + 0.5)


async def test_expire_once_per_pair_as_one_server(cluster: ClusterOfTwo) -> None:
    a, _ = cluster.ports
    async with dial(a, "x5alice") as alice:
        await recv_json(alice)
        await alice.send(offer("x5ghost"))
        await alice.send(json.dumps({"type": "CANDIDATE", "dst": "x5ghost", "payload": {}}))
        assert await recv_json(alice) == {"type": "EXPIRE", "src": "x5ghost", "dst": "x5alice"}
        await nothing_more(alice, EXPIRE_TIMEOUT + 0.5)


async def test_leave_without_dst_frees_the_id_everywhere(cluster: ClusterOfTwo) -> None:
    a, b = cluster.ports
    async with dial(a, "x6p", token="one") as peer:
        await recv_json(peer)
        await peer.send('{"type":"LEAVE"}')
        await assert_closed(peer)
    async with asyncio.timeout(5 * UNIT):
        while True:
            async with dial(b, "x6p", token="two") as other:
                answer = await recv_json(other)
            if answer == {"type": "OPEN"}:
                break
            await asyncio.sleep(0.05)  # the release is on its way to Redis


async def test_a_closed_socket_keeps_its_id_for_its_token_on_every_instance(
    cluster: ClusterOfTwo,
) -> None:
    a, b = cluster.ports
    async with dial(a, "x7p", token="owner") as peer:
        await recv_json(peer)
    await asyncio.sleep(0.2)
    async with dial(b, "x7p", token="thief") as thief:
        assert (await recv_json(thief))["type"] == "ID-TAKEN"
    async with dial(b, "x7p", token="owner") as back:
        assert await recv_json(back) == {"type": "OPEN"}


async def test_alive_timeout_drops_a_silent_peer(cluster: ClusterOfTwo) -> None:
    a, b = cluster.ports
    async with dial(a, "x8quiet") as quiet, dial(b, "x8alive") as alive:
        await recv_json(quiet)
        await recv_json(alive)
        async with asyncio.timeout((ALIVE_TIMEOUT + 5) * UNIT):
            with suppress(ConnectionClosed):
                while True:
                    await alive.send('{"type":"HEARTBEAT"}')
                    with suppress(TimeoutError):
                        async with asyncio.timeout(0.3):
                            await quiet.recv()
        assert quiet.close_code is not None
        assert alive.state.name == "OPEN"


async def test_bad_frames_get_an_error_and_relay_nothing(cluster: ClusterOfTwo) -> None:
    a, b = cluster.ports
    async with dial(a, "x9alice") as alice, dial(b, "x9bob") as bob:
        await recv_json(alice)
        await recv_json(bob)
        for frame in (
            "not json",
            '{"type":"OPEN"}',
            '{"type":"OFFER","dst":"x9bob","payload":"x"}',
        ):
            await alice.send(frame)
            assert (await recv_json(alice))["type"] == "ERROR"
        await alice.send(offer("x9bob", 7))
        assert (await recv_json(bob))["payload"]["n"] == 7


async def until(condition: Any, seconds: float = 5.0) -> None:
    """Realm-wide figures are read from Redis at least every second: poll for them."""
    async with asyncio.timeout(seconds * UNIT):
        while not await asyncio.to_thread(condition):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_discovery_and_metrics_see_the_whole_realm(cluster: ClusterOfTwo) -> None:
    a, b = cluster.ports
    url_a, url_b = cluster.instance_urls
    async with dial(a, "x10a") as one, dial(b, "x10b") as two:
        await recv_json(one)
        await recv_json(two)
        await until(lambda: {"x10a", "x10b"} <= set(http_json(f"{url_a}/pathfinder/peers")))
        await until(lambda: metric(url_b, "pathfinder_signaling_cluster_realm_peers") >= 2)
        text = metrics(url_b)
        assert f'pathfinder_signaling_cluster_instance_info{{name="instance-{b}"}} 1' in text
        assert metric(url_b, "pathfinder_signaling_cluster_instances") == 2
        assert metric(url_b, "pathfinder_signaling_peers") >= 1
        assert metric(url_b, "pathfinder_signaling_cluster_redis_up") == 1
        await one.send(offer("x10b"))
        await recv_json(two)
        assert metric(url_a, 'pathfinder_signaling_cluster_relays_total{direction="sent"}') >= 1
        assert metric(url_b, 'pathfinder_signaling_cluster_relays_total{direction="received"}') >= 1
        assert metric(url_a, "pathfinder_signaling_cluster_redis_round_trips_total") > 0


async def test_through_haproxy_a_client_knows_nothing_of_instances(cluster: ClusterOfTwo) -> None:
    port = port_of(cluster.proxy_url)
    # HAProxy's health check route answers as PeerJS's description.
    assert (await asyncio.to_thread(http_json, cluster.proxy_url + "/"))["name"] == "PeerJS Server"
    peers = []
    for n in range(6):
        ws = await connect(
            f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id=x11p{n}&token=t",
            open_timeout=10 * UNIT,
        )
        peers.append(ws)
        assert await recv_json(ws) == {"type": "OPEN"}
    try:
        # leastconn spreads them: both instances hold some.
        local = [metric(url, "pathfinder_signaling_peers") for url in cluster.instance_urls]
        assert all(count >= 1 for count in local), local
        for n in range(6):
            await peers[n].send(offer(f"x11p{(n + 1) % 6}", n))
        for n in range(6):
            message = await recv_json(peers[(n + 1) % 6])
            assert message["src"] == f"x11p{n}" and message["payload"]["n"] == n
    finally:
        for ws in peers:
            await ws.close()
