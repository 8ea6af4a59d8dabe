"""Red-team finding 1: the per-address caps of the signaling server, evaded with many
addresses.

The review registered ids from 52 loopback addresses, 400 each (the per-address cap),
closing each socket at once, and filled the realm's 20,000 reservations in 41 s: fresh peers
then got "concurrent user limit". Here the same attacks run, scaled down with the caps (the
caps are the server's configuration; the rules are what is tested), against the real
`signal` process. The attacker binds 127.0.x.y source addresses; the legitimate peer comes
from another network, as a client behind a trusted proxy is seen (X-Forwarded-For).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import UNIT
from tests.servers import CliProcess, free_port

MAX_RESERVATIONS = 300
PER_ADDRESS = 30
ADDRESSES = 20  # 20 x 30 = 600 ids: twice what the realm holds


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = {
        "PATHFINDER_BRIDGE_SERVER_CONCURRENT_LIMIT": str(MAX_RESERVATIONS),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_RESERVATIONS": str(MAX_RESERVATIONS),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_RESERVATIONS_PER_IP": str(PER_ADDRESS),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_AWAY_RESERVATIONS_PER_IP": str(PER_ADDRESS // 2),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_RESERVATION_MIN_CONNECTED": "0.5",
    }
    args = ["signal", "--port", str(port), "--state-dir", str(tmp_path)]
    with CliProcess(*args, "--trusted-proxy", "127.0.0.1", env=env) as process:
        process.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
        yield port


def attacker_address(n: int) -> str:
    return f"127.0.{2 + n // 250}.{1 + n % 250}"


async def register(
    port: int, source: str = "127.0.0.1", *, forwarded: str | None = None, hold: float = 0.0
) -> str:
    """A fresh id from `source` (or, through the trusted proxy, from `forwarded`): its first
    answer (OPEN, or the ERROR's text). The socket is held `hold` seconds, then closed."""
    url = (
        f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder"
        f"&id=x{secrets.token_hex(8)}&token={secrets.token_hex(8)}"
    )
    headers = {"X-Forwarded-For": forwarded} if forwarded else None
    async with connect(
        url, local_addr=(source, 0), additional_headers=headers, open_timeout=10 * UNIT
    ) as ws:
        async with asyncio.timeout(10 * UNIT):
            answer = json.loads(await ws.recv())
        if answer["type"] == "OPEN":
            await asyncio.sleep(hold)
            return "OPEN"
        return str(answer.get("payload", {}).get("msg", answer["type"]))


async def attack(port: int, *, hold: float) -> Counter[str]:
    """Every address registers PER_ADDRESS fresh ids, 32 at a time."""
    gate = asyncio.Semaphore(32)

    async def one(source: str) -> str:
        async with gate:
            return await register(port, source, hold=hold)

    sources = [attacker_address(n) for n in range(ADDRESSES) for _ in range(PER_ADDRESS)]
    return Counter(await asyncio.gather(*(one(source) for source in sources)))


def reservations(port: int) -> int:
    url = f"http://127.0.0.1:{port}/pathfinder/metrics"
    with urllib.request.urlopen(url, timeout=5 * UNIT) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("pathfinder_signaling_reservations "):
                return int(float(line.split()[1]))
    raise AssertionError("no reservations metric")


async def test_registering_and_closing_from_many_addresses_leaves_nothing_behind(
    server: int,
) -> None:
    answers = await attack(server, hold=0.0)
    print(f"\nregister-and-close from {ADDRESSES} loopback addresses: {dict(answers)}")
    # None of them kept, and the realm still has room for a newcomer.
    assert await asyncio.to_thread(reservations, server) == 0
    assert await register(server, forwarded="192.0.2.10") == "OPEN"
    # All of loopback is one range, whose new registrations are paced.
    assert answers["Too many new connections from this address, try again shortly"] > 0


async def test_ids_held_then_dropped_from_many_addresses_are_capped_per_range(
    server: int,
) -> None:
    answers = await attack(server, hold=0.6)
    print(f"\nhold-and-close from {ADDRESSES} loopback addresses: {dict(answers)}")
    # All of loopback is one range: its caps, not 20 times them, bound the attacker; what
    # is kept for owners who left is capped per range, the oldest going first.
    assert await asyncio.to_thread(reservations, server) <= PER_ADDRESS // 2
    assert await register(server, forwarded="192.0.2.10") == "OPEN"
    assert answers["OPEN"] < MAX_RESERVATIONS
    # Nor is the attacker's own range locked out for good: its registrations are paced.
    await asyncio.sleep(0.2)
    assert await register(server) == "OPEN"


async def test_an_ipv6_site_counts_as_one_range(tmp_path: Path) -> None:
    """A second review held every socket of the server from 26 /64s of one IPv6 /56 (what a
    home connection gets) while IPv6 counted per /64: newcomers from anywhere were refused.
    Scaled down: 26 /64s x 30 sockets against a server of 300."""
    per_range, limit = 30, 300
    port = free_port()
    env = {
        "PATHFINDER_BRIDGE_SERVER_CONCURRENT_LIMIT": str(limit),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_RESERVATIONS": str(limit),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_CONNECTIONS_PER_IP": str(per_range),
        "PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATION_BURST_PER_IP": "1000",
    }
    args = ["signal", "--port", str(port), "--state-dir", str(tmp_path)]
    with CliProcess(*args, "--trusted-proxy", "127.0.0.1", env=env) as process:
        process.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
        held: list[ClientConnection] = []
        gate = asyncio.Semaphore(32)

        async def hold(address: str) -> str:
            url = (
                f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder"
                f"&id=x{secrets.token_hex(8)}&token={secrets.token_hex(8)}"
            )
            async with gate:
                ws = await connect(
                    url, additional_headers={"X-Forwarded-For": address}, open_timeout=10 * UNIT
                )
                async with asyncio.timeout(10 * UNIT):
                    answer = json.loads(await ws.recv())
            held.append(ws)
            return str(answer["type"])

        site = [f"2001:db8:0:{n:x}00::{i + 1:x}" for n in range(26) for i in range(per_range)]
        try:
            answers = Counter(await asyncio.gather(*(hold(address) for address in site)))
            print(f"\n26 /64s of one /56, {per_range} sockets each: {dict(answers)}")
            assert answers["OPEN"] <= per_range
            for newcomer in ("198.51.100.7", "2001:db8:ffff::1"):
                assert await register(port, forwarded=newcomer) == "OPEN", newcomer
        finally:
            await asyncio.gather(*(ws.close() for ws in held), return_exceptions=True)
