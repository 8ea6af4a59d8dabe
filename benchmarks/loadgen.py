"""The signaling benchmark's load generator: PeerJS-style sockets in worker processes.

A general WebSocket client spends as much CPU per message as the server it measures, so on
two cores it, not the server, would set the pace. This one speaks just enough WebSocket:
frames are built once (text, FIN, masked with a zero key, which RFC 6455 allows and every
server must accept) and written in batches; received frames are split by their headers
and only parsed as JSON where a timestamp is read. Each worker process owns a share of the
peers, waits for "go" on stdin, runs its job and prints one JSON line: its results and the
CPU time it spent, so the benchmark shows that the clients were not the bottleneck.

Run by `benchmarks/signaling.py`; `python benchmarks/loadgen.py JOB_JSON` runs one worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n" * 10
CONNECT_TIMEOUT = 60.0
RUN_TIMEOUT = 300.0
#: Frames written per batch by one sender; the server reads them as they come.
BATCH = 50
#: OFFERs a sender may have on their way (sent, not yet received): a client that sends
#: faster than it reads would only measure how a server copes with a reader falling behind
#: (ours refuses past 256 KiB unread, as the security rules say).
WINDOW = 150


def client_frame(text: str) -> bytes:
    """A masked text frame (mask key 0: the payload goes as is)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return header + b"\0\0\0\0" + payload


def offer_text(dst: str, sent_at: float | None = None) -> str:
    payload: dict[str, Any] = {
        "sdp": {"type": "offer", "sdp": SDP},
        "type": "data",
        "connectionId": "dc_bench",
        "label": "dc_bench",
        "reliable": True,
        "serialization": "binary",
    }
    if sent_at is not None:
        payload["metadata"] = {"sentAt": sent_at}
    return json.dumps({"type": "OFFER", "payload": payload, "dst": dst})


class FrameReader:
    """Server frames (unmasked) from a stream, split by their headers."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()

    async def frames(self, count: int, keep: bool) -> list[bytes]:
        """Read `count` data frames; return their payloads when `keep`, else an empty list."""
        kept: list[bytes] = []
        await self._read(count, kept if keep else None, wait_all=True)
        return kept

    async def some(self, limit: int) -> int:
        """Read what has come, at least one frame and at most `limit`; return how many."""
        return await self._read(limit, None, wait_all=False)

    async def _read(self, limit: int, kept: list[bytes] | None, *, wait_all: bool) -> int:
        count = limit
        buffer = self._buffer
        while count > 0:
            offset = 0
            end = len(buffer)
            while count > 0 and end - offset >= 2:
                length = buffer[offset + 1] & 0x7F
                start = offset + 2
                if length == 126:
                    if end - offset < 4:
                        break
                    length = int.from_bytes(buffer[offset + 2 : offset + 4], "big")
                    start = offset + 4
                elif length == 127:
                    if end - offset < 10:
                        break
                    length = int.from_bytes(buffer[offset + 2 : offset + 10], "big")
                    start = offset + 10
                if end < start + length:
                    break
                opcode = buffer[offset] & 0x0F
                if opcode == 0x8:
                    raise ConnectionError("the server closed the connection")
                if opcode in (0x1, 0x2):
                    count -= 1
                    if kept is not None:
                        kept.append(bytes(buffer[start : start + length]))
                offset = start + length
            del buffer[:offset]
            if count > 0 and (wait_all or count == limit):
                chunk = await self._reader.read(1 << 18)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                buffer += chunk
            elif count > 0:
                break
        return limit - count


@dataclass
class RawPeer:
    id: str
    reader: FrameReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, host: str, port: int, path: str, id: str) -> RawPeer:
        """Connect, upgrade, and wait for OPEN (or fail with what came instead)."""
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path}/peerjs?key=pathfinder&id={id}&token=t{id}&version=1.5.5 HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"upgrade refused: {head[:40]!r}")
        frames = FrameReader(reader)
        (first,) = await frames.frames(1, keep=True)
        if json.loads(first).get("type") != "OPEN":
            raise ConnectionError(f"{id}: {first[:80]!r}")
        return cls(id, frames, writer)

    def close(self) -> None:
        self.writer.transport.abort()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def open_all(
    endpoints: list[tuple[str, int]], path: str, ids: list[str], parallel: int = 50
) -> list[RawPeer]:
    """Open one peer per id, spread over `endpoints` in turn."""
    gate = asyncio.Semaphore(parallel)

    async def one(index: int, id: str) -> RawPeer:
        host, port = endpoints[index % len(endpoints)]
        async with gate:
            return await RawPeer.open(host, port, path, id)

    async with asyncio.timeout(CONNECT_TIMEOUT):
        return list(await asyncio.gather(*(one(i, id) for i, id in enumerate(ids))))


async def go_signal() -> None:
    """Wait for the parent's "go" line on stdin."""
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit("expected 'go'")


def report(data: dict[str, Any]) -> None:
    print(json.dumps(data), flush=True)


# -- jobs ----------------------------------------------------------------------------------


async def relay_job(job: dict[str, Any]) -> None:
    """Pairs: each sender sends `messages` OFFERs to its receiver, blasted (throughput) or
    one every `interval` seconds with a timestamp (latency)."""
    prefix, pairs, messages = job["prefix"], job["pairs"], job["messages"]
    interval: float | None = job.get("interval")
    senders_at = [tuple(e) for e in job["senders"]]
    receivers_at = [tuple(e) for e in job["receivers"]]
    senders = await open_all(senders_at, job["path"], [f"{prefix}s{i}" for i in range(pairs)])
    receivers = await open_all(receivers_at, job["path"], [f"{prefix}r{i}" for i in range(pairs)])
    report({"ready": True})
    await go_signal()
    latencies: list[float] = []
    received = [0] * pairs
    progress = [asyncio.Event() for _ in range(pairs)]
    cpu = cpu_seconds()

    async def send(i: int) -> None:
        writer = senders[i].writer
        if interval is None:
            frame = client_frame(offer_text(receivers[i].id))
            sent = 0
            while sent < messages:
                while sent - received[i] > WINDOW - BATCH:
                    progress[i].clear()
                    await progress[i].wait()
                batch = min(BATCH, messages - sent)
                writer.write(frame * batch)
                sent += batch
                await writer.drain()
        else:
            for _ in range(messages):
                writer.write(client_frame(offer_text(receivers[i].id, time.monotonic())))
                await asyncio.sleep(interval)

    async def receive(i: int) -> None:
        if interval is None:
            while received[i] < messages:
                received[i] += await receivers[i].reader.some(messages - received[i])
                progress[i].set()
            return
        for _ in range(messages):
            (payload,) = await receivers[i].reader.frames(1, keep=True)
            now = time.monotonic()
            latencies.append((now - json.loads(payload)["payload"]["metadata"]["sentAt"]) * 1e3)

    async with asyncio.timeout(RUN_TIMEOUT):
        await asyncio.gather(*(send(i) for i in range(pairs)), *(receive(i) for i in range(pairs)))
    end = time.monotonic()
    report({"end": end, "cpu": cpu_seconds() - cpu, "latencies": latencies})
    await go_signal()  # hold the sockets until the parent has read the server's figures
    for peer in senders + receivers:
        peer.close()


async def register_job(job: dict[str, Any]) -> None:
    """Open `count` peers (held open) as fast as the server lets them in."""
    ids = [f"{job['prefix']}{i}" for i in range(job["count"])]
    report({"ready": True})
    await go_signal()
    cpu = cpu_seconds()
    peers = await open_all([tuple(e) for e in job["endpoints"]], job["path"], ids, parallel=100)
    report({"end": time.monotonic(), "cpu": cpu_seconds() - cpu, "latencies": []})
    await go_signal()
    for peer in peers:
        peer.close()


async def storm_job(job: dict[str, Any]) -> None:
    """Each peer connects at its moment within `spread` seconds, and on OPEN sends one OFFER
    (with its timestamp) to its partner (ids 2k and 2k+1). Reports time to OPEN and the
    OFFER's relay time (a partner not yet registered gets it from the queue after OPEN)."""
    prefix, count, spread = job["prefix"], job["count"], job["spread"]
    host, port = job["endpoints"][0]
    report({"ready": True})
    await go_signal()
    start = time.monotonic()
    cpu = cpu_seconds()
    to_open: list[float] = []
    relays: list[float] = []
    peers: list[RawPeer] = []

    async def one(i: int) -> None:
        await asyncio.sleep(start + spread * i / count - time.monotonic())
        began = time.monotonic()
        peer = await RawPeer.open(host, port, job["path"], f"{prefix}{i}")
        to_open.append((time.monotonic() - began) * 1e3)
        peers.append(peer)
        partner = f"{prefix}{i ^ 1}"
        peer.writer.write(client_frame(offer_text(partner, time.monotonic())))
        (payload,) = await peer.reader.frames(1, keep=True)
        sent_at = json.loads(payload)["payload"]["metadata"]["sentAt"]
        relays.append((time.monotonic() - sent_at) * 1e3)

    async with asyncio.timeout(RUN_TIMEOUT):
        await asyncio.gather(*(one(i) for i in range(count)))
    report(
        {
            "end": time.monotonic(),
            "cpu": cpu_seconds() - cpu,
            "latencies": relays,
            "to_open": to_open,
        }
    )
    await go_signal()
    for peer in peers:
        peer.close()


JOBS = {"relay": relay_job, "register": register_job, "storm": storm_job}


def main() -> None:
    job = json.loads(sys.argv[1])
    try:
        # The client side only: less CPU per message, more of the machine left for the server.
        from uvloop import run
    except ImportError:
        from asyncio import run
    run(JOBS[job["kind"]](job))


if __name__ == "__main__":
    main()
