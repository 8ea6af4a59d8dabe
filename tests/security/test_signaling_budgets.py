"""Issue 9, a review's findings: the signaling server's shared budgets were first come,
first served, so one or two address ranges could fill them and ordinary peers were refused.

- Read buffers: 227 sockets from two /24s, each once sending a 64 KiB frame (picows keeps
  a socket's read buffer at its largest frame's size), held the 16 MiB budget; from then on
  any frame over ~2 KB, an aiortc OFFER or ANSWER among them, closed its socket with ERROR.
- Unsent bytes: 64 sockets that never read, fed by siblings, held 256 KiB each, all 16 MiB;
  a presenter more than 16 KiB behind in a join wave then lost OFFERs.
- Registration pace: after a restart, every owner coming back for its reserved id was paced
  as if it were a newcomer.

Scaled down with the configuration (smaller budgets); the attackers come from other
networks through the trusted proxy's X-Forwarded-For, as in test_signaling_exhaustion.py.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import UNIT
from tests.servers import CliProcess, free_port

#: What picows's read buffer grows to for a 64 KiB frame (budgets.read_buffer_for).
LARGE_READ_BUFFER = 73_728
#: The read-buffer budget: 15 sockets that once read a large frame fill it.
READ_BUFFERS_TOTAL = 15 * LARGE_READ_BUFFER
LARGE_SDP = "a" * 60_000
#: An aiortc OFFER with every ICE candidate in its SDP: about 3 KB.
ORDINARY_SDP = "v=0\r\n" + "a=candidate:1 1 udp 2130706431 10.0.0.1 50000 typ host\r\n" * 50

MAX_UNSENT = 262_144
UNSENT_TOTAL = 8 * MAX_UNSENT
STALL_TIMEOUT = 1.0


def start_server(tmp_path: Path, port: int, **limits: str | float | int) -> CliProcess:
    env = {f"PATHFINDER_BRIDGE_SERVER_LIMITS_{k.upper()}": str(v) for k, v in limits.items()}
    env["PATHFINDER_BRIDGE_SERVER_CLEANUP_INTERVAL"] = "0.2"
    args = ["signal", "--port", str(port), "--state-dir", str(tmp_path)]
    process = CliProcess(*args, "--trusted-proxy", "127.0.0.1", env=env)
    process.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
    return process


def metric(port: int, name: str) -> float:
    url = f"http://127.0.0.1:{port}/pathfinder/metrics"
    with urllib.request.urlopen(url, timeout=5 * UNIT) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


@asynccontextmanager
async def peer(
    port: int,
    forwarded: str,
    id: str | None = None,
    token: str = "t",
    *,
    never_reads: bool = False,
) -> AsyncIterator[ClientConnection]:
    """A registered socket, seen as coming from `forwarded`; one that `never_reads` has a
    tiny receive buffer and reads nothing after OPEN."""
    id = id or f"p{secrets.token_hex(6)}"
    url = f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token={token}"
    raw = socket.socket()
    if never_reads:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", port))
    async with connect(
        url,
        sock=raw,
        additional_headers={"X-Forwarded-For": forwarded},
        open_timeout=10 * UNIT,
        max_queue=1 if never_reads else 64,
        max_size=None,
    ) as ws:
        async with asyncio.timeout(10 * UNIT):
            assert json.loads(await ws.recv()) == {"type": "OPEN"}
        try:
            yield ws
        finally:
            if never_reads:
                ws.transport.abort()  # a closing handshake would wait for it to read


async def next_message(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(10 * UNIT):
        message: dict[str, Any] = json.loads(await ws.recv())
        return message


def offer(dst: str, sdp: str, kind: str = "OFFER") -> str:
    payload = {"sdp": {"type": kind.lower(), "sdp": sdp}, "type": "data"}
    return json.dumps({"type": kind, "dst": dst, "payload": payload})


# -- read buffers ----------


@pytest.mark.parametrize("ranges", [2, 5])
async def test_large_frames_from_a_few_networks_leave_room_for_ordinary_offers(
    tmp_path: Path, ranges: int
) -> None:
    """Attackers from `ranges` /24s, 8 sockets each, each send one 64 KiB frame (to itself)
    and then stay. Two ranges may hold half the budget, not all of it; five fill it, and
    then an ordinary OFFER closes one of their idle large holders, not its sender."""
    port = free_port()
    with start_server(tmp_path, port, max_read_buffer_bytes_total=READ_BUFFERS_TOTAL):
        async with AsyncExitStack() as stack:
            answers: Counter[str] = Counter()
            for r in range(ranges):
                for n in range(8):
                    id = f"big{r}x{n}"
                    ws = await stack.enter_async_context(
                        peer(port, f"198.51.{100 + r}.{n + 1}", id)
                    )
                    await ws.send(offer(id, LARGE_SDP))
                    answer = await next_message(ws)
                    answers[answer["type"]] += 1
            print(f"\n{ranges} ranges x 8 sockets, one 64 KiB frame each: {dict(answers)}")
            alice = await stack.enter_async_context(peer(port, "192.0.2.10", "alice"))
            bob = await stack.enter_async_context(peer(port, "192.0.2.11", "bob"))
            # A new attendee's OFFER and the presenter's ANSWER both go through.
            await alice.send(offer("bob", ORDINARY_SDP))
            got = await next_message(bob)
            assert (got["type"], got["src"]) == ("OFFER", "alice"), got
            await bob.send(offer("alice", ORDINARY_SDP, "ANSWER"))
            got = await next_message(alice)
            assert (got["type"], got["src"]) == ("ANSWER", "bob"), got
            held = metric(port, "pathfinder_signaling_read_buffer_bytes")
        # Each range holds at most a quarter: two hold half (and alice and bob their OFFERs).
        assert held <= min(ranges, 4) * READ_BUFFERS_TOTAL // 4 + 2 * 4608


# -- unsent bytes ----------


async def fill(feeder: ClientConnection, target: str) -> int:
    """Send `target` (a socket that never reads) 30 KB OFFERs, ten at a time, until the
    server refuses one (EXPIRE from `target`): how many it took for `target` before that."""
    sent = 0
    while sent < 150:
        for _ in range(10):
            await feeder.send(offer(target, "a" * 30_000))
        sent += 10
        try:
            async with asyncio.timeout(0.3 * UNIT):
                answer = json.loads(await feeder.recv())
        except TimeoutError:
            continue
        assert (answer["type"], answer["src"]) == ("EXPIRE", target), answer
        refused = 1
        try:
            while True:
                async with asyncio.timeout(0.3 * UNIT):
                    await feeder.recv()
                refused += 1
        except TimeoutError:
            return sent - refused
    raise AssertionError(f"{target} took {sent} OFFERs without a refusal")


async def join_wave(port: int, stack: AsyncExitStack, waves: int = 60) -> None:
    """A presenter whose client reads nothing while `waves` attendees (another network) each
    send it a 3 KB OFFER, then reads: it gets every OFFER, and no attendee hears EXPIRE."""
    presenter = await stack.enter_async_context(
        peer(port, "192.0.2.10", "presenter", never_reads=True)
    )
    attendees = [
        await stack.enter_async_context(peer(port, f"203.0.113.{1 + n}", f"att{n}"))
        for n in range(waves)
    ]
    for ws in attendees:
        await ws.send(offer("presenter", ORDINARY_SDP))
    await asyncio.sleep(0.5)  # the server has read them all and written what it could
    got: list[str] = []
    heard: list[str] = []
    try:
        while len(got) < waves:
            async with asyncio.timeout(2 * UNIT):
                got.append(json.loads(await presenter.recv())["src"])
    except TimeoutError:
        pass
    for ws in attendees:
        try:
            async with asyncio.timeout(0.1 * UNIT):
                heard.append(json.loads(await ws.recv())["type"])
        except TimeoutError:
            pass
    print(f"join wave of {waves}: the presenter got {len(got)} OFFERs; attendees heard {heard}")
    assert sorted(got) == sorted(f"att{n}" for n in range(waves))
    assert heard == []


async def never_readers(
    port: int, stack: AsyncExitStack, network: Callable[[int], str], count: int, tag: str
) -> int:
    """`count` sockets that never read, from `network(n)`, each fed by a sibling of the
    same network until the server refuses it more: how many took something."""
    took = 0
    for n in range(count):
        feeder = await stack.enter_async_context(peer(port, network(n), f"feed{tag}x{n}"))
        await stack.enter_async_context(peer(port, network(n), f"stuck{tag}x{n}", never_reads=True))
        took += await fill(feeder, f"stuck{tag}x{n}") > 0
    return took


async def test_sockets_of_one_network_that_never_read_hold_a_share_of_the_unsent_budget(
    tmp_path: Path,
) -> None:
    port = free_port()
    limits = {"max_unsent_bytes": MAX_UNSENT, "max_unsent_bytes_total": UNSENT_TOTAL}
    with start_server(tmp_path, port, **limits, stalled_reader_timeout=60):
        async with AsyncExitStack() as stack:
            took = await never_readers(port, stack, lambda n: f"198.51.100.{n + 1}", 12, "a")
            print(f"\n12 sockets of one /24 that never read: {took} held unsent bytes")
            await join_wave(port, stack)


async def test_a_socket_that_stays_behind_and_reads_nothing_is_closed(tmp_path: Path) -> None:
    """Five networks fill the whole unsent budget with sockets that never read; after
    `stalled_reader_timeout` without taking a byte they are closed, and a join wave passes."""
    port = free_port()
    limits = {"max_unsent_bytes": MAX_UNSENT, "max_unsent_bytes_total": UNSENT_TOTAL}
    with start_server(tmp_path, port, **limits, stalled_reader_timeout=STALL_TIMEOUT):
        async with AsyncExitStack() as stack:
            for r in range(5):
                await never_readers(
                    port, stack, lambda n, r=r: f"198.51.{100 + r}.{n + 1}", 3, f"{r}"
                )
            name = 'pathfinder_signaling_rejected_total{reason="stalled_reader"}'
            for _ in range(round(100 * UNIT)):  # polled: the server is another process
                if metric(port, "pathfinder_signaling_unsent_bytes") == 0:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the sockets that read nothing still hold unsent bytes")
            closed = metric(port, name)
            print(f"\n{closed:.0f} sockets that read nothing closed as stalled")
            assert closed >= 10  # five networks, two sockets each at least held bytes
            await join_wave(port, stack)


# -- registration pace ----------


async def register(port: int, id: str, token: str) -> str:
    url = f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token={token}"
    async with connect(url, open_timeout=10 * UNIT) as ws:
        answer = await next_message(ws)
        if answer["type"] == "OPEN":
            return "OPEN"
        return str(answer.get("payload", {}).get("msg", answer["type"]))


async def test_owners_returning_after_a_restart_are_not_paced(tmp_path: Path) -> None:
    """Twelve peers of one range hold their ids; the server restarts with a registration
    burst of 3, which newcomers spend: all twelve still take their ids back at once."""
    port = free_port()
    owners = {f"owner{n}": secrets.token_hex(8) for n in range(12)}
    with start_server(tmp_path, port, reservation_min_connected=0) as first:
        async with AsyncExitStack() as stack:
            for id, token in owners.items():
                url = (
                    f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id={id}&token={token}"
                )
                ws = await stack.enter_async_context(connect(url, open_timeout=10 * UNIT))
                assert (await next_message(ws))["type"] == "OPEN"
            assert first.stop() == 0
    pace = {"registration_burst_per_ip": 3, "registrations_per_second_per_ip": 0.01}
    with start_server(tmp_path, port, **pace):
        newcomers = Counter([await register(port, f"new{n}", "t") for n in range(4)])
        assert newcomers == {
            "OPEN": 3,
            "Too many new connections from this address, try again shortly": 1,
        }
        returning = Counter(
            await asyncio.gather(*(register(port, id, token) for id, token in owners.items()))
        )
        print(f"\n12 owners back after a restart, the pace spent: {dict(returning)}")
        assert returning == {"OPEN": 12}
