"""Issue 9, attack 2: the signaling memory bomb.

The review sent OFFERs to absent ids with payloads like `[[],[],...]` and took the server
from 27 MiB to 3.2 GB in 25 s (1.2-1.7 GB stayed after the queues expired). Here the same
attack, plus PeerJS-shaped 64 KiB OFFERs that fill every byte budget, hits the real
`pathfinder-bridge signal` process from 80 sockets, while the server's RSS is read from
/proc; the attack stops as soon as the RSS passes the bound (so a server without the fix
fails quickly instead of eating the machine).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import UNIT
from tests.servers import CliProcess, free_port

#: The README's bound: RSS of the server while the bomb runs and after its queues expire.
RSS_BOUND_MIB = 128
SOCKETS = 80
ROUNDS = 2
BOMBS_PER_ROUND = 10
FILLERS_PER_ROUND = 5
EXPIRE_TIMEOUT = 1.0

#: `{"x":[[],[],...]}`: parsed, about 22 times its size. Just under the 64 KiB frame limit.
BOMB_PAYLOAD = '{"x":[' + ",".join(["[]"] * 21_700) + "]}"
#: A payload as PeerJS shapes it, as large as a frame allows: it passes every shape rule and
#: is queued until the byte budgets say no.
FILLER_PAYLOAD = {"sdp": {"type": "offer", "sdp": "a" * 65_000}, "type": "data"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def metric(base: str, name: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5 * UNIT) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def attacker(port: int, n: int, go: asyncio.Event) -> None:
    url = f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id=bomb{n}&token=t"
    async with connect(url, open_timeout=10 * UNIT, max_queue=1) as ws:
        assert json.loads(await ws.recv()) == {"type": "OPEN"}
        try:
            await bomb(ws, n, go)
        except ConnectionClosed:
            return  # all 80 are one range: past its share of the read buffers, some are closed
        ws.transport.abort()  # and vanish without a closing handshake


async def bomb(ws: ClientConnection, n: int, go: asyncio.Event) -> None:
    for round in range(ROUNDS):
        await go.wait()
        for i in range(BOMBS_PER_ROUND):
            await ws.send(
                f'{{"type":"OFFER","dst":"ghost{n}r{round}b{i}","payload":{BOMB_PAYLOAD}}}'
            )
        for i in range(FILLERS_PER_ROUND):
            dst = f"ghost{n}r{round}f{i}"
            await ws.send(json.dumps({"type": "OFFER", "dst": dst, "payload": FILLER_PAYLOAD}))
        # Never read the answers (ERRORs, EXPIREs): they pile up on the server's side.
        await asyncio.sleep(EXPIRE_TIMEOUT * 1.5)


async def test_the_queue_bomb_keeps_the_servers_memory_bounded(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/pathfinder"
    server = CliProcess(
        "signal",
        "--port",
        str(port),
        "--state-dir",
        str(tmp_path),
        "--expire-timeout",
        str(EXPIRE_TIMEOUT),
    )
    with server:
        server.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
        pid = server.process.pid
        idle = rss_mib(pid)
        peak = idle
        go = asyncio.Event()

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss_mib(pid))
                assert peak < RSS_BOUND_MIB, f"server RSS {peak:.0f} MiB (idle {idle:.0f})"
                await asyncio.sleep(0.02)

        async def attack() -> None:
            async with asyncio.TaskGroup() as group:
                for n in range(SOCKETS):
                    group.create_task(attacker(port, n, go))
                go.set()

        started = time.monotonic()
        async with asyncio.timeout(120 * UNIT):
            # The watcher failing (the bound passed) cancels the attack at once.
            async with asyncio.TaskGroup() as group:
                watcher = group.create_task(watch())
                await group.create_task(attack())
                # Every socket has closed; wait until what the bomb left in queues expired.
                while await asyncio.to_thread(metric, base, "pathfinder_signaling_queued_messages"):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                watcher.cancel()
        after = rss_mib(pid)
        print(
            f"\nqueue bomb: {SOCKETS} sockets x {ROUNDS * (BOMBS_PER_ROUND + FILLERS_PER_ROUND)} "
            f"64 KiB OFFERs in {time.monotonic() - started:.1f} s; server RSS idle {idle:.1f} MiB, "
            f"peak {peak:.1f} MiB, after expiry {after:.1f} MiB"
        )
        assert peak < RSS_BOUND_MIB and after < RSS_BOUND_MIB
        assert metric(base, 'pathfinder_signaling_rejected_total{reason="malformed"}') > 0
        assert metric(base, 'pathfinder_signaling_rejected_total{reason="queue_full"}') > 0
        await still_relays(port)


async def still_relays(port: int) -> None:
    def dial(id: str) -> Any:
        return connect(f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token=t")

    async with dial("alice") as alice, dial("bob") as bob:
        await alice.recv()
        await bob.recv()
        await alice.send(json.dumps({"type": "OFFER", "dst": "bob", "payload": {"sdp": "v=0"}}))
        async with asyncio.timeout(5 * UNIT):
            assert json.loads(await bob.recv())["src"] == "alice"


#: Sockets that never read, as if from many address ranges (the per-range caps are raised
#: for the test: on loopback every socket is one range).
UNREAD_SOCKETS = 1000
RING_OFFERS = 4


async def test_many_sockets_that_never_read_stay_within_the_budgets(tmp_path: Path) -> None:
    """Red-team finding 1: 1,000 sockets that never read, each sent 64 KiB OFFERs by the
    next in a ring, took the server from 38 to 329 MiB (what each holds unsent, and the read
    buffer picows grew for its large frames and keeps). Both are budgeted in total now."""
    port = free_port()
    env = {
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_CONNECTIONS_PER_IP": str(UNREAD_SOCKETS),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATION_BURST_PER_IP": str(UNREAD_SOCKETS),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_RESERVATIONS_PER_IP": str(UNREAD_SOCKETS),
    }
    server = CliProcess("signal", "--port", str(port), "--state-dir", str(tmp_path), env=env)
    with server:
        server.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
        pid = server.process.pid
        idle = rss_mib(pid)
        gate = asyncio.Semaphore(50)

        async def open_one(n: int) -> Any:
            async with gate:
                raw = socket.socket()
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                raw.setblocking(False)
                await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", port))
                url = f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id=u{n}&token=t"
                ws = await connect(url, sock=raw, max_queue=1, max_size=None)
                assert json.loads(await ws.recv()) == {"type": "OPEN"}
                return ws

        async with asyncio.timeout(120 * UNIT):
            sockets = await asyncio.gather(*(open_one(n) for n in range(UNREAD_SOCKETS)))
            opened = rss_mib(pid)
            peak = opened

            async def blast(n: int, ws: Any) -> None:
                frame = json.dumps(
                    {
                        "type": "OFFER",
                        "dst": f"u{(n + 1) % UNREAD_SOCKETS}",
                        "payload": FILLER_PAYLOAD,
                    }
                )
                for _ in range(RING_OFFERS):
                    await ws.send(frame)

            sending = asyncio.gather(*(blast(n, ws) for n, ws in enumerate(sockets)))
            while not sending.done():
                peak = max(peak, rss_mib(pid))
                assert peak < RSS_BOUND_MIB, f"server RSS {peak:.0f} MiB (idle {idle:.0f})"
                await asyncio.sleep(0.05)
            await sending
            for _ in range(40):  # what was sent is read by the server meanwhile
                peak = max(peak, rss_mib(pid))
                await asyncio.sleep(0.05)
        print(
            f"\n{UNREAD_SOCKETS} sockets that never read, {RING_OFFERS} x 64 KiB OFFERs each: "
            f"server RSS idle {idle:.1f} MiB, {opened:.1f} with the sockets, peak {peak:.1f} MiB"
        )
        for ws in sockets:
            ws.transport.abort()
        assert peak < RSS_BOUND_MIB
        await still_relays(port)
