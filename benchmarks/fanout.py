"""Fan-out benchmark: one Python presenter, N Python attendees in separate processes.

For N = 1, 10, 50, 100: setup time per attendee, broadcast delivery latency (from the
presenter's send to the last attendee's receipt) p50/p99 of a 300-byte show_me over 50
broadcasts, and the presenter's CPU and RSS. Reference in the same run: the round trip of a
300-byte message between two stock PeerJS clients in Chromium, through the same server.

Attendee processes report receipt times on CLOCK_MONOTONIC, which all processes share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.config import ClientConfig  # noqa: E402
from bridge.protocol.events import InteractiveAction, ShowMe, TargetAction  # noqa: E402
from bridge.protocol.joincode import JoinCode  # noqa: E402
from bridge.session.live import LiveAttendee, LivePresenter  # noqa: E402
from bridge.transport.endpoint import SignalingEndpoint  # noqa: E402

BROADCASTS = 50
PER_PROCESS = 25
CLIENT = ClientConfig(connect_timeout=60.0)


def show_me(i: int) -> ShowMe:
    action = InteractiveAction(
        TargetAction.HIGHLIGHT,
        "a[data-testid='data-testid Nav menu item'][href='/dashboards']",
        targetComment="x" * 150,
    )
    return ShowMe(stepId=f"b{i}", action=action)


# -- attendee worker process ------------------------------------------------------------------


async def worker(code: str, server: str, count: int) -> None:
    endpoint = SignalingEndpoint.parse(server, "pathfinder")
    join_code = JoinCode.parse(code)
    attendees = [
        LiveAttendee(CLIENT, endpoint, join_code, name=f"w{os.getpid()}-{i}") for i in range(count)
    ]
    join_times: list[float] = []

    async def join(attendee: LiveAttendee) -> None:
        start = time.monotonic()
        await attendee.join()
        join_times.append(time.monotonic() - start)

    gate = asyncio.Semaphore(10)

    async def gated(attendee: LiveAttendee) -> None:
        async with gate:
            await join(attendee)

    await asyncio.gather(*(gated(a) for a in attendees))
    print(json.dumps({"ready": join_times}), flush=True)
    receipts: dict[str, list[float]] = {}

    async def listen(attendee: LiveAttendee) -> None:
        while (event := await attendee.next_event()) is not None:
            if isinstance(event, ShowMe):
                receipts.setdefault(event.stepId, []).append(time.monotonic())

    await asyncio.gather(*(listen(a) for a in attendees))
    print(json.dumps({"receipts": receipts}), flush=True)
    for attendee in attendees:
        await attendee.close(leave=False)


# -- presenter and measurement ------------------------------------------------------------------


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


async def run_room(server: str, n: int) -> dict[str, float]:
    endpoint = SignalingEndpoint.parse(server, "pathfinder")
    presenter = LivePresenter(CLIENT, endpoint, name=f"fanout-{n}")
    code = (await presenter.start()).encode()
    sizes = [PER_PROCESS] * (n // PER_PROCESS) + ([n % PER_PROCESS] if n % PER_PROCESS else [])
    start = time.monotonic()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            code,
            "--server",
            server,
            "--count",
            str(size),
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for size in sizes
    ]
    join_times: list[float] = []
    for process in processes:
        assert process.stdout is not None
        async with asyncio.timeout(300):
            line = await process.stdout.readline()
        join_times += json.loads(line)["ready"]
    room_seconds = time.monotonic() - start
    assert len(presenter.attendees) == n, (len(presenter.attendees), n)

    usage_before, wall_before = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    sent: dict[str, float] = {}
    for i in range(BROADCASTS):
        event = show_me(i)
        sent[event.stepId] = time.monotonic()
        presenter.broadcast(event)
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    usage_after, wall_after = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    rss = rss_mib()
    await presenter.stop("benchmark done")

    receipts: dict[str, list[float]] = {}
    for process in processes:
        assert process.stdout is not None
        async with asyncio.timeout(120):
            line = await process.stdout.readline()
            await process.wait()
        for step, times in json.loads(line)["receipts"].items():
            receipts.setdefault(step, []).extend(times)
    lost = sum(n - len(receipts.get(step, [])) for step in sent)
    to_last = [(max(receipts[step]) - sent[step]) * 1000 for step in sent if receipts.get(step)]
    every = [(t - sent[step]) * 1000 for step in sent for t in receipts.get(step, [])]
    cpu = (usage_after.ru_utime + usage_after.ru_stime) - (
        usage_before.ru_utime + usage_before.ru_stime
    )
    return {
        "attendees": n,
        "room join (s)": room_seconds,
        "setup per attendee p50 (ms)": statistics.median(join_times) * 1000,
        "to-last p50 (ms)": percentile(to_last, 50),
        "to-last p99 (ms)": percentile(to_last, 99),
        "each p99 (ms)": percentile(every, 99),
        "lost": lost,
        "presenter CPU (%)": 100 * cpu / (wall_after - wall_before),
        "presenter RSS (MiB)": rss,
    }


async def browser_reference(server: str) -> dict[str, float]:
    """RTT of a 300-byte message between two stock PeerJS clients in Chromium."""
    from playwright.async_api import async_playwright

    from bridge.browser.chromium import find_chromium
    from bridge.config import BrowserConfig
    from tests.servers import PEERJS_BUNDLE, static_server

    host, port = server.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    options = {
        "host": host,
        "port": int(port),
        "path": "/pathfinder",
        "key": "pathfinder",
        "secure": False,
    }
    pages = ROOT / "tests" / "e2e" / "pages"
    with static_server(pages, {"peerjs.min.js": PEERJS_BUNDLE}) as origin:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=find_chromium(BrowserConfig()), args=list(BrowserConfig().args)
            )
            context = await browser.new_context()
            host_page, guest_page = await context.new_page(), await context.new_page()
            for page in (host_page, guest_page):
                await page.goto(f"{origin}/peer.html")
            await host_page.evaluate("([id, o]) => peerTest.open(id, o)", ["benchhost", options])
            await guest_page.evaluate("(o) => peerTest.open(undefined, o)", options)
            rtts = await guest_page.evaluate(
                """async () => {
                  const conn = peerTest.peer.connect("benchhost", {reliable: true});
                  await new Promise((r) => conn.on("open", r));
                  const payload = {type: "show_me", pad: "x".repeat(260)};
                  const rtts = [];
                  for (let i = 0; i < 200; i++) {
                    const t = performance.now();
                    const echo = new Promise((r) => conn.once("data", r));
                    conn.send(payload);
                    await echo;
                    rtts.push(performance.now() - t);
                  }
                  return rtts;
                }"""
            )
            await browser.close()
    return {"p50": statistics.median(rtts), "p99": percentile(rtts, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,25,50,100")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker, args.server, args.count))
        return

    from tests.servers import our_signaling_server

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    rows = []
    with our_signaling_server() as server:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(asyncio.run(run_room(server, n)))
            print(f"  measured N={n}", file=sys.stderr, flush=True)
        reference = asyncio.run(browser_reference(server))
    print(
        f"\nFan-out benchmark ({os.cpu_count()} cores, loopback, {BROADCASTS} broadcasts of a "
        "300-byte show_me, attendees in processes of up to "
        f"{PER_PROCESS})\n"
    )
    columns = list(rows[0])
    print("  ".join(f"{c:>{max(len(c), 8)}}" for c in columns))
    for row in rows:
        print(
            "  ".join(
                f"{row[c]:>{max(len(c), 8)}.{0 if c in ('attendees', 'lost') else 1}f}"
                for c in columns
            )
        )
    print(
        f"\nReference, two stock PeerJS clients in Chromium, 300-byte round trip: "
        f"p50 {reference['p50']:.2f} ms, p99 {reference['p99']:.2f} ms"
    )


if __name__ == "__main__":
    main()
