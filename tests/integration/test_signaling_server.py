"""Every rule of the signaling server, with real websocket clients over loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bridge.config import ServerConfig
from bridge.signaling.server import SignalingServer
from tests.conftest import UNIT
from tests.integration.conftest import FAST, Dial, limits, recv_json


def offer(dst: str) -> str:
    return json.dumps({"type": "OFFER", "dst": dst, "payload": {"sdp": {"type": "offer"}}})


async def assert_closed(ws: object) -> None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(2 * UNIT):
            await ws.recv()  # type: ignore[attr-defined]


def http_get(
    server: SignalingServer, path: str, origin: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}")
    if origin:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def test_open_relay_with_src(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice") as alice, dial("bob") as bob:
        assert await recv_json(alice) == {"type": "OPEN"}
        assert await recv_json(bob) == {"type": "OPEN"}
        for kind in ("OFFER", "ANSWER", "CANDIDATE"):
            await alice.send(json.dumps({"type": kind, "dst": "bob", "payload": {"x": kind}}))
            assert await recv_json(bob) == {
                "type": kind,
                "src": "alice",
                "dst": "bob",
                "payload": {"x": kind},
            }
        await bob.send(json.dumps({"type": "LEAVE", "dst": "alice"}))
        assert await recv_json(alice) == {"type": "LEAVE", "src": "bob", "dst": "alice"}


@pytest.mark.parametrize(
    ("id", "token", "key", "text"),
    [
        ("alice", None, "pathfinder", "No id, token, or key supplied to websocket server"),
        (None, "tok", "pathfinder", "No id, token, or key supplied to websocket server"),
        ("alice", "tok", None, "No id, token, or key supplied to websocket server"),
        ("alice", "tok", "wrongkey", "Invalid key provided"),
        ("bad%21id", "tok", "pathfinder", "Invalid id provided"),
        ("alice", "t%2Ft", "pathfinder", "Invalid token provided"),
        ("x" * 65, "tok", "pathfinder", "Invalid id provided"),
    ],
)
async def test_bad_handshake_parameters(
    dial: Dial, id: str | None, token: str | None, key: str | None, text: str
) -> None:
    async with dial(id, token=token, key=key) as ws:
        assert await recv_json(ws) == {"type": "ERROR", "payload": {"msg": text}}
        await assert_closed(ws)


async def test_id_taken_and_reconnect(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice", token="t1") as first:
        assert (await recv_json(first))["type"] == "OPEN"
        async with dial("alice", token="t2") as thief:
            assert await recv_json(thief) == {"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}
            await assert_closed(thief)
        async with dial("alice", token="t1") as second:
            assert (await recv_json(second))["type"] == "OPEN"
            await assert_closed(first)  # replaced
            async with dial("bob") as bob:
                await recv_json(bob)
                await bob.send(offer("alice"))
                assert (await recv_json(second))["src"] == "bob"
    assert server.realm.peer_count == 0 or await _eventually(lambda: server.realm.peer_count == 0)


async def _eventually(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Poll a condition on the server's state (no event exists for these counters)."""
    async with asyncio.timeout(seconds * UNIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return True


async def test_queue_then_deliver_after_open(dial: Dial) -> None:
    async with dial("alice") as alice:
        await recv_json(alice)
        await alice.send(offer("late"))
        await asyncio.sleep(0.05)
        async with dial("late") as late:
            assert await recv_json(late) == {"type": "OPEN"}
            assert (await recv_json(late))["src"] == "alice"


async def test_expire_after_timeout(dial: Dial) -> None:
    async with dial("alice") as alice:
        await recv_json(alice)
        await alice.send(offer("ghost"))
        await alice.send(json.dumps({"type": "CANDIDATE", "dst": "ghost", "payload": {}}))
        assert await recv_json(alice) == {"type": "EXPIRE", "src": "ghost", "dst": "alice"}
        await alice.send('{"type":"HEARTBEAT"}')
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.6 * UNIT):
                await alice.recv()  # exactly once per pair


async def test_alive_timeout_and_heartbeat(dial: Dial) -> None:
    async with dial("quiet") as quiet, dial("alive") as alive:
        await recv_json(quiet)
        await recv_json(alive)
        for _ in range(8):
            await alive.send('{"type":"HEARTBEAT"}')
            await asyncio.sleep(0.2)
        await assert_closed(quiet)
        await alive.send('{"type":"HEARTBEAT"}')
        assert alive.state.name == "OPEN"


async def test_leave_without_dst_removes_sender(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice") as alice:
        await recv_json(alice)
        await alice.send('{"type":"LEAVE"}')
        await assert_closed(alice)
    assert server.realm.peer_count == 0


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        '{"type":"NOPE"}',
        '{"type":"OPEN"}',
        '{"type":"OFFER"}',
        '{"type":"OFFER","dst":5,"payload":{}}',
        '{"type":"ANSWER","dst":"bob","payload":"x"}',
        b"\x00\x01binary",
    ],
)
async def test_bad_frames_get_error_and_nothing_else(
    server: SignalingServer, dial: Dial, frame: str | bytes
) -> None:
    async with dial("alice") as alice, dial("bob") as bob:
        await recv_json(alice)
        await recv_json(bob)
        await alice.send(frame)
        error = await recv_json(alice)
        assert error["type"] == "ERROR"
        # alice is still connected and can relay; bob saw nothing but the good message
        await alice.send(offer("bob"))
        assert (await recv_json(bob))["type"] == "OFFER"
    assert sum(server.realm.metrics.rejected.values()) == 1


async def test_oversized_frame_closes_only_that_client(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice") as alice, dial("bob") as bob:
        await recv_json(alice)
        await recv_json(bob)
        await alice.send(
            json.dumps({"type": "OFFER", "dst": "bob", "payload": {"pad": "x" * 70000}})
        )
        assert await recv_json(alice) == {"type": "ERROR", "payload": {"msg": "Message too large"}}
        await assert_closed(alice)
        await bob.send('{"type":"HEARTBEAT"}')
        assert bob.state.name == "OPEN"


async def test_huge_frame_past_the_hard_stop_is_cut(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice", max_size=None) as alice:
        await recv_json(alice)
        await alice.send("x" * (server.config.limits.max_frame_bytes * 5))
        await assert_closed(alice)
    await _eventually(lambda: server.realm.metrics.rejected["frame_too_large"] == 1)


@pytest.mark.parametrize("server_config", [limits(messages_per_second=5, message_burst=3)])
async def test_rate_limit(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice") as alice, dial("bob") as bob:
        await recv_json(alice)
        await recv_json(bob)
        for _ in range(10):
            await alice.send(offer("bob"))
        assert (await recv_json(alice))["payload"] == {
            "msg": "Rate limit exceeded, message dropped"
        }
        received = 0
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3 * UNIT):
                while True:
                    await bob.recv()
                    received += 1
        assert 3 <= received < 10
        assert server.realm.metrics.rejected["rate_limited"] >= 1


@pytest.mark.parametrize("server_config", [limits(max_connections_per_ip=2)])
async def test_per_ip_limit(dial: Dial) -> None:
    async with dial("a") as a, dial("b") as b, dial("c") as c:
        await recv_json(a)
        await recv_json(b)
        assert (await recv_json(c))["payload"] == {"msg": "Too many connections from this address"}


@pytest.mark.parametrize("server_config", [dataclasses.replace(FAST, concurrent_limit=1)])
async def test_concurrent_limit(dial: Dial) -> None:
    async with dial("a") as a, dial("b") as b:
        await recv_json(a)
        assert await recv_json(b) == {
            "type": "ERROR",
            "payload": {"msg": "Server has reached its concurrent user limit"},
        }


async def test_dead_destination_answers_leave(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice") as alice, dial("bob") as bob:
        await recv_json(alice)
        await recv_json(bob)
        bobs = next(sock for sock in server._sockets.values() if sock.params.id == "bob")
        assert bobs.transport is not None
        bobs.transport.disconnect(graceful=False)  # bob's socket dies without a close handshake
        await asyncio.sleep(0.05)
        await alice.send(offer("bob"))
        message = await recv_json(alice)
        # Either the server noticed the close first (bob is gone: the offer is queued and
        # expires) or the send failed (LEAVE from bob). Both tell alice bob is unreachable.
        assert message in (
            {"type": "LEAVE", "src": "bob", "dst": "alice"},
            {"type": "EXPIRE", "src": "bob", "dst": "alice"},
        )


async def test_http_routes_and_cors(server: SignalingServer) -> None:
    status, headers, body = await asyncio.to_thread(http_get, server, "/pathfinder/", "http://x")
    assert status == 200 and json.loads(body)["name"] == "PeerJS Server"
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, _, body = await asyncio.to_thread(http_get, server, "/pathfinder/pathfinder/id?ts=1")
    assert status == 200 and len(body) == 36
    status, _, _ = await asyncio.to_thread(http_get, server, "/pathfinder/pathfinder/peers")
    assert status == 401
    status, _, body = await asyncio.to_thread(http_get, server, "/pathfinder/metrics")
    assert status == 200 and b"pathfinder_signaling_peers 0" in body


@pytest.mark.parametrize("server_config", [dataclasses.replace(FAST, allow_discovery=True)])
async def test_discovery_when_allowed(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice") as alice:
        await recv_json(alice)
        status, _, body = await asyncio.to_thread(http_get, server, "/pathfinder/pathfinder/peers")
        assert status == 200 and json.loads(body) == ["alice"]


@pytest.mark.parametrize(
    "server_config", [dataclasses.replace(FAST, allowed_origins=("https://grafana.example.com",))]
)
async def test_origin_allow_list(server: SignalingServer, dial: Dial) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with dial("alice", origin="http://evil.example"):
            pass
    assert info.value.response.status_code == 403
    async with dial("alice", origin="https://grafana.example.com") as ok:
        assert (await recv_json(ok))["type"] == "OPEN"
    _, headers, _ = await asyncio.to_thread(http_get, server, "/pathfinder/", "http://evil.example")
    assert "Access-Control-Allow-Origin" not in headers


async def test_metrics_count_relays_and_rejections(server: SignalingServer, dial: Dial) -> None:
    async with dial("alice") as alice, dial("bob") as bob:
        await recv_json(alice)
        await recv_json(bob)
        await alice.send(offer("bob"))
        await recv_json(bob)
        await alice.send("garbage")
        await recv_json(alice)
        text = server.metrics_text()
    assert 'pathfinder_signaling_messages_relayed_total{type="OFFER"} 1' in text
    assert 'pathfinder_signaling_rejected_total{reason="malformed"} 1' in text


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_tls_serves_wss_and_https(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    config = dataclasses.replace(FAST, tls_cert=str(cert), tls_key=str(key))
    context = ssl.create_default_context(cafile=str(cert))
    async with SignalingServer(config) as server:
        assert server.url.startswith("https://")
        url = f"wss://127.0.0.1:{server.port}/pathfinder/peerjs?key=pathfinder&id=a&token=t"
        async with connect(url, ssl=context) as ws:
            assert (await recv_json(ws))["type"] == "OPEN"

        def get() -> bytes:
            with urllib.request.urlopen(
                f"https://127.0.0.1:{server.port}/pathfinder/", context=context, timeout=5
            ) as r:
                return bytes(r.read())

        assert b"PeerJS Server" in await asyncio.to_thread(get)


async def test_port_in_use_is_a_clear_error(server: SignalingServer) -> None:
    from bridge.errors import PortInUseError

    with pytest.raises(
        PortInUseError, match=rf"port {server.port} is already in use by pid \d+ .*--port"
    ):
        async with SignalingServer(ServerConfig(port=server.port)):
            pass


async def test_random_frames_from_one_client_affect_nobody_else(
    server: SignalingServer, dial: Dial
) -> None:
    """A live fuzz: hundreds of random and mutated frames from one socket, a normal pair beside it."""
    import random

    rng = random.Random(1234)
    valid = offer("bob")
    async with dial("fuzzer") as fuzzer, dial("alice") as alice, dial("bob") as bob:
        for ws in (fuzzer, alice, bob):
            await recv_json(ws)
        for i in range(400):
            choice = rng.random()
            if choice < 0.3:
                frame: str | bytes = "".join(
                    chr(rng.randrange(0, 0x2FF)) for _ in range(rng.randrange(0, 80))
                )
            elif choice < 0.6:
                cut = rng.randrange(len(valid))
                frame = valid[:cut] + chr(rng.randrange(32, 127)) + valid[cut + 1 :]
            elif choice < 0.8:
                frame = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            else:
                frame = json.dumps(
                    {
                        "type": rng.choice(["OFFER", "X", "LEAVE", "OPEN"]),
                        "dst": rng.choice(["bob", "", 7]),
                    }
                )
            await fuzzer.send(frame)
            if i % 50 == 0:
                await alice.send(offer("bob"))
                message = await recv_json(bob)
                while message.get("src") == "fuzzer":  # a mutated frame can still be a valid OFFER
                    message = await recv_json(bob)
                assert message["src"] == "alice"  # the pair keeps working
        await alice.send(offer("bob"))
        message = await recv_json(bob)
        while message.get("src") == "fuzzer":  # a mutated frame may have been a valid OFFER
            message = await recv_json(bob)
        assert message["src"] == "alice"
    # (a LEAVE without dst would end the fuzzer's own session, which is the rule, so none is sent)
    rejected = server.realm.metrics.rejected
    assert (
        rejected["malformed"] > 0 and rejected["binary_frame"] > 0 and sum(rejected.values()) > 100
    )
