"""Signaling benchmark: our server against npm `peer` 1.0.x, side by side, same client.

For each server: time to register N = 100, 1000, 2000 peers (all held open at once), OFFER relay
throughput and p50/p99 relay latency with 100 peer pairs, server RSS with 2000 peers, and the
server's CPU time (from /proc) to register 2000 peers and per relayed OFFER: on a machine shared
with other work the wall-clock figures swing several-fold between runs, the CPU figures hardly.
Prints a table and the ratio ours/peer. Both servers run as separate processes on loopback; the
load comes from one asyncio process using `websockets`, so the client costs the same for both.

Our server is started with the per-IP connection and reservation limits and the per-socket rate
limit raised (every benchmark peer comes from 127.0.0.1 and blasts messages); everything else is
the default, reservations and their file included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import npm_peer_server, our_signaling_server

PAIRS = 100
THROUGHPUT_MESSAGES = 200  # per sender
LATENCY_ROUNDS = 20
SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n" * 10


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process: a figure that other load on the machine hardly moves."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(port: int) -> int:
    from bridge.signaling.ports import port_holder

    holder = port_holder(port)
    assert holder is not None
    return holder[0]


async def open_peer(base: str, id: str, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        ws = await connect(f"{base}&id={id}&token=t{id}", open_timeout=30, max_queue=None)
        async with asyncio.timeout(30):
            opened = json.loads(await ws.recv())
        assert opened["type"] == "OPEN", opened
        return ws


async def register(base: str, n: int, prefix: str) -> tuple[float, list[ClientConnection]]:
    gate = asyncio.Semaphore(200)
    start = time.perf_counter()
    peers = await asyncio.gather(*(open_peer(base, f"{prefix}{i}", gate) for i in range(n)))
    return time.perf_counter() - start, list(peers)


async def close_all(peers: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in peers), return_exceptions=True)


def offer(dst: str, sent_at: float) -> str:
    payload = {
        "sdp": {"type": "offer", "sdp": SDP},
        "type": "data",
        "connectionId": "dc_bench",
        "sentAt": sent_at,
    }
    return json.dumps({"type": "OFFER", "dst": dst, "payload": payload})


async def relay(base: str, pid: int) -> tuple[float, float, float, float]:
    """(messages/s, p50 ms, p99 ms, server CPU us per message) over PAIRS sender->receiver
    pairs."""
    _, senders = await register(base, PAIRS, "s")
    _, receivers = await register(base, PAIRS, "r")
    latencies: list[float] = []

    async def drain(ws: ClientConnection, count: int, record: bool) -> None:
        for _ in range(count):
            message = json.loads(await ws.recv())
            if record:
                latencies.append((time.perf_counter() - message["payload"]["sentAt"]) * 1000)

    # Latency: paced messages, so the figure is relay time, not queueing behind a blast.
    async def paced(i: int) -> None:
        for _ in range(LATENCY_ROUNDS):
            await senders[i].send(offer(f"r{i}", time.perf_counter()))
            await asyncio.sleep(0.02)

    async with asyncio.timeout(120):
        await asyncio.gather(
            *(paced(i) for i in range(PAIRS)),
            *(drain(receivers[i], LATENCY_ROUNDS, True) for i in range(PAIRS)),
        )

    async def blast(i: int) -> None:
        for _ in range(THROUGHPUT_MESSAGES):
            await senders[i].send(offer(f"r{i}", 0.0))

    start, cpu = time.perf_counter(), cpu_seconds(pid)
    async with asyncio.timeout(300):
        await asyncio.gather(
            *(blast(i) for i in range(PAIRS)),
            *(drain(receivers[i], THROUGHPUT_MESSAGES, False) for i in range(PAIRS)),
        )
    elapsed = time.perf_counter() - start
    cpu_per_message = (cpu_seconds(pid) - cpu) / (PAIRS * THROUGHPUT_MESSAGES) * 1e6
    await close_all(senders + receivers)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    rate = PAIRS * THROUGHPUT_MESSAGES / elapsed
    return rate, statistics.median(latencies), p99, cpu_per_message


async def measure(url: str, sizes: list[int]) -> dict[str, float]:
    port = int(url.split(":")[2].split("/")[0])
    base = f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&version=1.5.5"
    pid = server_pid(port)
    results: dict[str, float] = {}
    for n in sizes:
        cpu = cpu_seconds(pid)
        seconds, peers = await register(base, n, f"n{n}x")
        results[f"register {n} peers (s)"] = seconds
        if n == max(sizes):
            results[f"server CPU to register {n} peers (s)"] = cpu_seconds(pid) - cpu
        if n == max(sizes):
            await asyncio.sleep(0.5)
            results[f"server RSS with {n} peers (MiB)"] = rss_mib(pid)
        await close_all(peers)
        await asyncio.sleep(0.5)
    rate, p50, p99, cpu_per_message = await relay(base, pid)
    results[f"OFFER relay throughput, {PAIRS} pairs (msg/s)"] = rate
    results[f"relay latency p50, {PAIRS} pairs (ms)"] = p50
    results[f"relay latency p99, {PAIRS} pairs (ms)"] = p99
    results["server CPU per relayed OFFER (us)"] = cpu_per_message
    return results


@contextlib.contextmanager
def bench_env() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_CONNECTIONS_PER_IP"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MESSAGES_PER_SECOND"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MESSAGE_BURST"] = "100000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_RESERVATIONS_PER_IP"] = "100000"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000", help="peer counts to register")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    raise_fd_limit()
    with bench_env(), our_signaling_server() as url:
        ours = asyncio.run(measure(url, sizes))
    with npm_peer_server() as url:
        reference = asyncio.run(measure(url, sizes))
    print(f"\nSignaling benchmark ({os.cpu_count()} cores, loopback)\n")
    width = max(len(k) for k in ours)
    print(f"{'figure':<{width}}  {'ours':>10}  {'npm peer':>10}  {'ours/peer':>9}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 10}  {'-' * 9}")
    for key, value in ours.items():
        ref = reference[key]
        print(f"{key:<{width}}  {value:>10.2f}  {ref:>10.2f}  {value / ref:>9.2f}")


if __name__ == "__main__":
    main()
