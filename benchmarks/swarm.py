"""Swarm benchmark: `pathfinder-bridge swarm` against one of our presenters, 50 and 200 attendees.

The presenter runs here (a LivePresenter); the swarm runs as a user runs it, as a CLI process
with its worker processes, and reports with --json. Per size: how long the room took to join,
join p50/p99, delivery latency p50/p99 of 50 show_me events sent 0.2 s apart (the presenter's
timestamps against arrival: one machine, one clock), heartbeat delay, and the CPU the swarm's
workers used once everyone had joined, from which attendees per core follows.

The signaling server allows more sockets per address than its default 200 (the whole room
comes from 127.0.0.1), and the presenter answers more identity challenges per minute than its
default 120: both limits exist against floods, and a 200-attendee room from one address joining
within a minute exceeds them (the README says so).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.config import ClientConfig  # noqa: E402
from bridge.protocol.events import InteractiveAction, ShowMe, TargetAction  # noqa: E402
from bridge.session.live import LivePresenter  # noqa: E402
from bridge.session.presenter import ChallengeLimits  # noqa: E402
from bridge.transport.endpoint import SignalingEndpoint  # noqa: E402

BROADCASTS = 50
GAP = 0.2


async def run_room(server: str, n: int) -> dict[str, float]:
    endpoint = SignalingEndpoint.parse(server, "pathfinder")
    presenter = LivePresenter(ClientConfig(connect_timeout=60.0), endpoint, name=f"swarm-{n}")
    presenter.session.challenge_limits = ChallengeLimits(per_minute=10 * n)
    code = (await presenter.start()).encode()
    started = time.monotonic()
    swarm = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "swarm",
        code,
        "-n",
        str(n),
        "--json",
        "--server",
        server,
        "--status-interval",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert swarm.stderr is not None and swarm.stdout is not None
    async with asyncio.timeout(600):
        while not (line := (await swarm.stderr.readline()).decode()).startswith("Joined: "):
            assert line, "the swarm ended before everyone had joined"
    room_seconds = time.monotonic() - started
    drain = asyncio.create_task(swarm.stderr.read())
    for i in range(BROADCASTS):
        action = InteractiveAction(TargetAction.HIGHLIGHT, "a[href='/dashboards']", "x" * 150)
        presenter.broadcast(ShowMe(stepId=f"b{i}", action=action))
        await asyncio.sleep(GAP)
    await asyncio.sleep(3)  # the last events arrive, and a usage report covers them
    await presenter.stop("benchmark done")
    async with asyncio.timeout(120):
        output = await swarm.stdout.read()
        await swarm.wait()
        await drain
    summary = json.loads(output.decode().strip().splitlines()[-1])
    cores = summary["cores_after_join"] or float("nan")
    return {
        "attendees": n,
        "joined": summary["joined"],
        "room join (s)": room_seconds,
        "join p50 (ms)": summary["join_ms"]["p50"],
        "delivery p50 (ms)": summary["delivery_ms"]["p50"],
        "delivery p99 (ms)": summary["delivery_ms"]["p99"],
        "heartbeat p50 (ms)": summary["heartbeat_ms"]["p50"] or float("nan"),
        "missed": summary["missed"],
        "swarm cores": cores,
        "attendees per core": n / cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200")
    args = parser.parse_args()
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_MAX_CONNECTIONS_PER_IP"] = "2000"
    os.environ["PATHFINDER_BRIDGE_SERVER_LIMITS_REGISTRATION_BURST_PER_IP"] = "2000"
    from tests.servers import our_signaling_server

    rows = []
    with our_signaling_server() as server:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(asyncio.run(run_room(server, n)))
            print(f"  measured N={n}", file=sys.stderr, flush=True)
    print(
        f"\nSwarm benchmark ({os.cpu_count()} cores, loopback; `pathfinder-bridge swarm` with "
        f"one worker per core; {BROADCASTS} show_me events {GAP} s apart; swarm cores = CPU "
        "of its workers after everyone joined)\n"
    )
    columns = list(rows[0])
    print("  ".join(f"{c:>{max(len(c), 8)}}" for c in columns))
    for row in rows:
        print(
            "  ".join(
                f"{row[c]:>{max(len(c), 8)}.{0 if c in ('attendees', 'joined', 'missed') else 1}f}"
                for c in columns
            )
        )


if __name__ == "__main__":
    main()
