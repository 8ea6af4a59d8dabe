"""Replay benchmark: from the presenter's click to the highlight (or the action) in attendee pages.

One Chromium, one context per page (BROWSER-NOTES: cheaper than a browser each); the presenter and
attendee sandboxes carry a Grafana-sized DOM (about 10,000 extra elements). For N = 1, 5, 10
browser attendees: 100 Show me clicks -> highlight present over the target in every attendee page
(guided mode), and 50 Do it clicks -> the click performed (follow mode). Reports p50/p99 and where
the time goes: capture (click to Python), channel (broadcast to the attendee's receipt), locate,
draw/act. Clock: the page's performance.timeOrigin + now() and Python's time.time(), both epoch.
With screenshots (`N+shots`), each attendee also takes its report screenshot after every replay,
as `follow --report` does, to show whether pictures slow replay.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.async_api import Page, async_playwright

from bridge.browser.capture import ActionCapture, CapturedStep
from bridge.browser.launch import launch_chromium
from bridge.browser.replay import ActionReplay
from bridge.browser.snapshot import Snapshots
from bridge.config import BrowserConfig, ClientConfig, ServerConfig
from bridge.protocol.events import AttendeeMode, StepEvent
from bridge.sandbox.server import SandboxServer, SandboxSettings
from bridge.session.live import LiveAttendee, LivePresenter
from bridge.signaling.server import SignalingServer
from bridge.transport.endpoint import SignalingEndpoint

#: grafana-shell's steps after the first. As in Pathfinder's panel, a step waits for the one
#: before it, and Show me of a step without Do it completes it (then only Redo is offered):
#: the first step is done once (Do it) before anyone joins, and each round of Show me clicks
#: redoes these four first.
SHOW_STEPS = ["help", "dock", "toolbar", "brand"]
EXTRA_ELEMENTS = 10_000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Click:
    captured_ms: float = 0.0
    broadcast_ms: float = 0.0
    received: list[float] = field(default_factory=list)
    results: list[tuple[float, float, float, bool]] = field(
        default_factory=list
    )  # done, locate, act, ok
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def run(
    n: int, show_clicks: int, do_clicks: int, shots: Path | None = None
) -> dict[str, float]:
    browser_config = BrowserConfig()
    heavy = SandboxSettings(extra_elements=EXTRA_ELEMENTS)
    clicks: list[Click] = []
    async with SignalingServer(ServerConfig(port=0)) as signaling, async_playwright() as playwright:
        with SandboxServer(heavy) as presenter_site, SandboxServer(heavy) as attendee_site:
            endpoint = SignalingEndpoint.parse(signaling.url, "pathfinder")
            browser = await launch_chromium(playwright, browser_config, headless=True)
            presenter = LivePresenter(ClientConfig(), endpoint, name="bench")
            code = await presenter.start()

            def on_step(step: CapturedStep) -> None:
                click = clicks[-1]
                click.captured_ms = step.captured_at_ms
                click.broadcast_ms = time.time() * 1000
                presenter.broadcast(step.event)

            capture = ActionCapture(browser_config, presenter_site.url, on_step=on_step)
            page = await capture.start(browser=browser)
            await capture.open_guide(presenter_site.guide_url("grafana-shell"))
            # The first step, done before anyone joins, lets the others be shown.
            await click(page, "do-it", "menu-toggle", clicks, gap=0.55, wait=False)
            clicks.clear()
            replays: list[ActionReplay] = []
            lives: list[LiveAttendee] = []
            tasks = []
            for i in range(n):
                replay = ActionReplay(browser_config, attendee_site.url, mode=AttendeeMode.GUIDED)
                await replay.start(browser=browser)
                await replay.open_guide(presenter_site.guide_url("grafana-shell"))
                live = LiveAttendee(ClientConfig(), endpoint, code, name=f"b{i}")
                await live.join()
                lives.append(live)
                replays.append(replay)
                snapshots = None
                if shots is not None and replay.page is not None:
                    snapshots = Snapshots(replay.page, shots, f"b{i}")
                tasks.append(asyncio.create_task(attend(live, replay, clicks, n, snapshots)))
            for i in range(show_clicks):
                step = SHOW_STEPS[i % len(SHOW_STEPS)]
                if step == SHOW_STEPS[0]:
                    for done in SHOW_STEPS:
                        await redo(page, done)
                # Steps in turn, 0.12 s apart: no step repeats within Pathfinder's 500 ms.
                await click(page, "show-me", step, clicks, gap=0.12)
            for replay in replays:
                replay.mode = AttendeeMode.FOLLOW
            for _ in range(do_clicks):
                await redo(page, "menu-toggle")
                # One step: wait out the 500 ms rule.
                await click(page, "do-it", "menu-toggle", clicks, gap=0.55)
            await presenter.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for live in lives:
                await live.close(leave=False)
            await browser.close()
    show, do = clicks[:show_clicks], clicks[show_clicks:]

    def figures(group: list[Click]) -> dict[str, float]:
        total = [done - c.captured_ms for c in group for done, _, _, ok in c.results if ok]
        failures = sum(1 for c in group for *_, ok in c.results if not ok)
        return {
            "p50": statistics.median(total),
            "p99": percentile(total, 99),
            "capture": statistics.median(c.broadcast_ms - c.captured_ms for c in group),
            "channel": statistics.median(r - c.broadcast_ms for c in group for r in c.received),
            "locate": statistics.median(loc for c in group for _, loc, _, _ in c.results),
            "act": statistics.median(act for c in group for _, _, act, _ in c.results),
            "failed": failures,
        }

    return {
        **{f"show {k}": v for k, v in figures(show).items()},
        **{f"do {k}": v for k, v in figures(do).items()},
    }


async def redo(page: Page, step_id: str) -> None:
    """Offer a completed step again (its Redo button), as a presenter repeating it would."""
    again = page.locator(f'[data-testid="interactive-redo-{step_id}"]')
    if await again.count():
        await again.click()


async def click(
    page: Page, kind: str, step_id: str, clicks: list[Click], gap: float = 0.0, wait: bool = True
) -> None:
    """Click a step's button as a person would; unless told not to, wait for every replay."""
    clicks.append(Click())
    box = await page.locator(f'[data-testid="interactive-{kind}-{step_id}"]').bounding_box()
    assert box is not None
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    if wait:
        async with asyncio.timeout(30):
            await clicks[-1].done.wait()
    await asyncio.sleep(gap)


async def attend(
    live: LiveAttendee,
    replay: ActionReplay,
    clicks: list[Click],
    n: int,
    snapshots: Snapshots | None,
) -> None:
    try:
        await _attend(live, replay, clicks, n, snapshots)
    except Exception as exc:
        print(f"attendee failed: {exc!r}", file=sys.stderr)
        raise


async def _attend(
    live: LiveAttendee,
    replay: ActionReplay,
    clicks: list[Click],
    n: int,
    snapshots: Snapshots | None,
) -> None:
    while (event := await live.next_event()) is not None:
        if not isinstance(event, StepEvent):
            continue
        current = clicks[-1]
        current.received.append(time.time() * 1000)
        result = await replay.replay(event)
        current.results.append((result.finished_at_ms, result.locate_ms, result.act_ms, result.ok))
        if len(current.results) == n:
            current.done.set()
        if snapshots is not None:  # as follow --report does: after the result is out
            await snapshots.take(f"{event.TYPE}-{event.stepId}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,5,10")
    parser.add_argument("--show", type=int, default=100)
    parser.add_argument("--do", type=int, default=50)
    parser.add_argument(
        "--screenshot-sizes",
        default="1,5",
        help="also measure these sizes with a report screenshot after every replay",
    )
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append((str(n), asyncio.run(run(n, args.show, args.do))))
        print(f"  measured N={n}", file=sys.stderr, flush=True)
    for n in (int(s) for s in args.screenshot_sizes.split(",") if s):
        with tempfile.TemporaryDirectory() as folder:
            figures = asyncio.run(run(n, args.show, args.do, Path(folder)))
        rows.append((f"{n}+shots", figures))
        print(f"  measured N={n} with screenshots", file=sys.stderr, flush=True)
    print(
        f"\nReplay benchmark ({os.cpu_count()} cores, headless Chromium, one context per page, "
        f"{EXTRA_ELEMENTS} extra elements per page; "
        f"{args.show} Show me and {args.do} Do it clicks)\n"
    )
    keys = list(rows[0][1])
    print(f"{'attendees':>9}  " + "  ".join(f"{k:>12}" for k in keys))
    for n, figures in rows:
        print(f"{n:>9}  " + "  ".join(f"{figures[k]:>12.1f}" for k in keys))
    print(
        "\nms; show/do p50 and p99 are click to highlight drawn / click performed, over every "
        "attendee; capture, channel, locate, act are medians of the parts. N+shots: each "
        "attendee also takes its report screenshot after sending each result."
    )


if __name__ == "__main__":
    main()
