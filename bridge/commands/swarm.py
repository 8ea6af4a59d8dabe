"""`pathfinder-bridge swarm CODE -n N`: N attendees join a session, ours or Pathfinder's.

Attendees run in worker processes (`bridge/swarm/`), K of them replaying in headless
Chromium on the sandbox or `--grafana URL`. While it runs: a progress bar and a live table on
a terminal, a status line every `--status-interval` seconds otherwise. At the end: a summary
(`--json`: one JSON object on stdout), a report with `--report DIR`, and exit status 1 when
any attendee failed to join or missed an event while connected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    add_client_flags,
    add_common_flags,
    client_overrides,
    load,
    positive_seconds,
    run_async,
)
from bridge.config import Config
from bridge.errors import BridgeError
from bridge.printable import printable

if TYPE_CHECKING:
    from bridge.protocol.joincode import JoinCode
    from bridge.report.model import SessionReport
    from bridge.swarm.tally import SwarmSummary, SwarmTally

NAME = "swarm"
HELP = "N attendees join a session at once: a load test with a live table and a summary"
MAX_ATTENDEES = 2000


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_ATTENDEES:
        raise argparse.ArgumentTypeError(f"must be 0..{MAX_ATTENDEES}, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Join a Live Session (ours, or a browser running Pathfinder) with N attendees in "
        "several processes, show how they fare, and sum it up."
    )
    add_common_flags(parser)
    add_client_flags(parser)
    parser.add_argument("code", metavar="CODE", help="join code, join URL, or 6-character id")
    parser.add_argument("-n", type=count, required=True, metavar="N", help="attendees")
    parser.add_argument(
        "--browsers",
        type=count,
        default=0,
        metavar="K",
        help="K of them replay in headless Chromium (on the sandbox, or --grafana URL)",
    )
    parser.add_argument("--mode", choices=("guided", "follow"), default="guided")
    parser.add_argument(
        "--duration",
        type=positive_seconds,
        metavar="S",
        help="leave after S seconds (default: when the session ends, or Ctrl-C)",
    )
    parser.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    parser.add_argument(
        "--report", type=Path, metavar="DIR", help="write a session report to DIR/index.html"
    )
    parser.add_argument(
        "--grafana",
        metavar="URL",
        help="the Grafana browser attendees replay in (default: a sandbox started here)",
    )
    parser.add_argument("--name", default="swarm", help="name prefix (default: swarm)")
    parser.add_argument(
        "--processes",
        type=count,
        metavar="P",
        help="worker processes for attendees without a browser (default: one per core)",
    )
    parser.add_argument(
        "--status-interval",
        type=positive_seconds,
        default=5.0,
        metavar="S",
        help="seconds between status lines when output is not a terminal (default 5)",
    )


def run(args: argparse.Namespace) -> int:
    from bridge.protocol.joincode import JoinCode

    if args.n < 1:
        raise BridgeError("-n: a swarm needs at least 1 attendee")
    if args.browsers > args.n:
        raise BridgeError(f"--browsers {args.browsers} is more than -n {args.n}")
    code = JoinCode.parse(args.code)
    config = load(args, client_overrides(args))
    return run_async(lambda: swarm(config, args, code))


def names_for(prefix: str, n: int) -> list[str]:
    width = len(str(n))
    return [f"{prefix[:40]}-{i + 1:0{width}d}" for i in range(n)]


async def swarm(config: Config, args: argparse.Namespace, code: JoinCode) -> int:
    from bridge.commands.terminal import is_terminal
    from bridge.report.files import prepare_report_folder
    from bridge.swarm.runner import SwarmRunner, default_processes, split_attendees
    from bridge.swarm.tally import SwarmTally
    from bridge.swarm.worker import WorkerSpec

    names = names_for(args.name, args.n)
    tally = SwarmTally(names, args.browsers)
    status_out = sys.stderr if args.json else sys.stdout
    if args.report is not None:
        prepare_report_folder(args.report)
    grafana, sandbox = args.grafana or "", None
    if args.browsers and not grafana:
        from bridge.sandbox.server import SandboxServer, SandboxSettings

        sandbox = SandboxServer(SandboxSettings())
        sandbox.start()
        grafana = sandbox.url
    processes = args.processes or default_processes(args.n - args.browsers)
    groups = split_attendees(args.n, args.browsers, processes)
    specs = [
        WorkerSpec(
            worker=w,
            code=args.code,
            attendees=[(i, names[i]) for i in group],
            mode=args.mode,
            browsers=w == 0 and args.browsers > 0,
            grafana=grafana,
            report_dir=str(args.report.resolve()) if args.report is not None else "",
            config_file=str(args.config) if args.config is not None else "",
            overrides=client_overrides(args),
            verbosity=args.verbose,
        )
        for w, group in enumerate(groups)
    ]
    where = f" ({args.browsers} of them in Chromium on {grafana})" if args.browsers else ""
    print(
        f"Swarm of {args.n} attendees{where} joining session {code.id} from {len(specs)} processes",
        file=status_out,
        flush=True,
    )
    runner = SwarmRunner(specs, tally.apply)
    started = time.time() * 1000
    show = asyncio.create_task(
        show_progress(
            tally, args.status_interval, status_out, live=is_terminal() and not args.json
        ),
        name="swarm-view",
    )
    try:
        await runner.run(args.duration)
    finally:
        show.cancel()
        await asyncio.gather(show, return_exceptions=True)
        if sandbox is not None:
            sandbox.stop()
    summary = tally.summary(time.time() * 1000)
    print_summary(summary, status_out)
    if args.json:
        print(json.dumps({"session": code.id, **summary.to_json()}), flush=True)
    if args.report is not None:
        from bridge.report.files import write_report

        page = write_report(swarm_report(tally, summary, code, started, args.mode), args.report)
        print(f"Report: {page}", file=status_out, flush=True)
    return EXIT_OK if summary.ok else EXIT_ERROR


async def show_progress(tally: SwarmTally, interval: float, out: Any, *, live: bool) -> None:
    """The live table on a terminal; otherwise a line when all have tried to join, then
    a status line every `interval` seconds when it changed."""
    from bridge.commands.terminal import LiveScreen, swarm_line, swarm_rich_view

    if live:
        await LiveScreen(lambda: swarm_rich_view(tally.status(), browser_rows(tally))).run()
        return
    announced = False
    shown = ""
    while True:
        await asyncio.sleep(min(interval, 0.25) if not announced else interval)
        status = tally.status()
        if not announced and not status.joining:
            announced = True
            print(
                f"Joined: {status.joined}/{status.attendees} ({status.failed} failed)",
                file=out,
                flush=True,
            )
            continue
        if announced:
            line = swarm_line(status)
            if line != shown:
                print(line, file=out, flush=True)
                shown = line


def browser_rows(tally: SwarmTally) -> list[tuple[str, ...]]:
    return [
        (a.name, a.state.value, str(a.replays_ok), str(a.replays_failed), a.last_replay or "-")
        for a in tally.attendees
        if a.browser
    ]


def print_summary(summary: SwarmSummary, out: Any) -> None:
    from bridge.percentiles import describe_ms

    s = summary.status
    lines = [
        f"Swarm summary: {s.attendees} attendees, {s.joined} joined, {s.failed} failed to join, "
        f"{len(summary.missed)} events missed while connected, {summary.reconnects} reconnects",
        f"Events: {s.events} seen, {s.deliveries} deliveries; delivery latency p50 "
        f"{describe_ms(s.delivery.p50)}, p99 {describe_ms(s.delivery.p99)}, max "
        f"{describe_ms(s.delivery.max)}",
        f"Clock: {s.clock.describe()}",
        f"Heartbeat p50 {describe_ms(s.heartbeat.p50)}, p99 {describe_ms(s.heartbeat.p99)}; "
        f"join p50 {describe_ms(summary.join.p50)}, p99 {describe_ms(summary.join.p99)}",
    ]
    if s.browsers:
        lines.append(
            f"Replays in Chromium ({s.browsers} attendees): {s.replays_ok} ok, "
            f"{s.replays_failed} failed"
        )
    # Reasons and event summaries carry the presenter's text (a step id, a session_end reason).
    for name, reason in summary.failures[:10]:
        lines.append(f"  {printable(name, 40)} failed to join: {printable(reason, 300)}")
    for missed in summary.missed[:10]:
        lines.append(f"  {printable(missed.attendee, 40)} missed {printable(missed.summary, 300)}")
    for line in lines:
        print(line, file=out, flush=True)


def swarm_report(
    tally: SwarmTally, summary: SwarmSummary, code: JoinCode, started_ms: float, mode: str
) -> SessionReport:
    """The swarm as a session report: every event, and per attendee whether it arrived
    (and how fast), or for browser attendees what its replay did, with the picture."""
    from bridge.report.files import SHOTS
    from bridge.report.model import Outcome, ReportBuilder
    from bridge.swarm.tally import SwarmState

    builder = ReportBuilder(
        title=f"Swarm report: {summary.status.attendees} attendees on session {code.id}",
        latency_meaning="delivery latency (presenter's timestamp to arrival)",
        started_ms=started_ms,
        session_name=code.name,
        session_id=code.id,
        guide=code.url,
        notes=[summary.status.clock.describe()],
    )
    correction = summary.status.clock.offset_ms if summary.status.clock.corrected else 0.0
    for event in tally.events.values():
        builder.timeline_entry(
            event.key, event.sent or started_ms, event.type, event.step, event.summary
        )
    missed = {(m.attendee, m.key) for m in summary.missed}
    replays = {(r.index, r.key): r for r in tally.replays}
    for attendee in tally.attendees:
        note = attendee.failure or attendee.end_reason
        builder.attendee(attendee.name, mode, browser=attendee.browser, note=note)
        for key, event in tally.events.items():
            arrived = attendee.received.get(key)
            replay = replays.get((attendee.index, key))
            if replay is not None:
                builder.result(
                    attendee.name,
                    key,
                    Outcome.OK if replay.ok else Outcome.FAILED,
                    reason=replay.detail,
                    latency_ms=replay.finished - event.sent - correction if event.sent else None,
                    screenshot=f"{SHOTS}/{replay.screenshot}" if replay.screenshot else None,
                )
            elif arrived is not None:
                builder.result(
                    attendee.name,
                    key,
                    Outcome.OK,
                    reason="received",
                    latency_ms=arrived - event.sent - correction if event.sent else None,
                )
            elif (attendee.name, key) in missed:
                builder.result(attendee.name, key, Outcome.FAILED, reason="missed while connected")
            else:
                state = "never joined" if attendee.state is SwarmState.FAILED else "not connected"
                builder.result(attendee.name, key, Outcome.SKIPPED, reason=state)
    return builder.build()
