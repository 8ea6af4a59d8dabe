"""What several commands print: status lines, presenter notices, the attendee table, and
typed input. Lines that scripts rely on (`Join code: CODE`, `Join URL: URL`, one JSON object
per line with `--json`) go to stdout; logs go to stderr."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.percentiles import describe_ms
from bridge.protocol.events import SessionEvent, SessionStart
from bridge.session.presenter import Notice, NoticeKind

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from bridge.doctor.report import Check
    from bridge.grafana.login import GrafanaLogin
    from bridge.session.live import LivePresenter
    from bridge.swarm.tally import SwarmStatus

_NOTICE_MARKS = {
    NoticeKind.JOINED: "+",
    NoticeKind.LEFT: "-",
    NoticeKind.MODE_CHANGED: "~",
    NoticeKind.STATUS: "=",
    NoticeKind.HAND_RAISED: "?",
    NoticeKind.CHAT: ">",
    NoticeKind.REJECTED: "!",
    NoticeKind.LOST: "!",
}


def say(text: str) -> None:
    print(text, flush=True)


def show_login(login: GrafanaLogin, who: str | None, *, note: str = "") -> None:
    """Which Grafana login is used (never its secret) and whom it signs in as."""
    line = f"Grafana login: {login.describe()}"
    if who:
        line += f", signed in as {who}"
    if note:
        line += f" ({note})"
    say(line)


def show_check(check: Check) -> None:
    """One doctor check: its status and what it found, then what to do and the details."""
    say(f"{check.status.value:<8} {check.title}: {check.summary}")
    for line in check.advice:
        say(f"{'':<8}   what to do: {line}")
    for line in check.details:
        say(f"{'':<8}   - {line}")


def show_notice(notice: Notice) -> None:
    attendee = notice.attendee
    mark = _NOTICE_MARKS[notice.kind]
    if notice.kind is NoticeKind.JOINED:
        say(f"{mark} {attendee.label} joined ({notice.detail} mode)")
    elif notice.kind is NoticeKind.LEFT:
        say(f"{mark} {attendee.label} left")
    elif notice.kind is NoticeKind.STATUS:
        say(f"{mark} {attendee.label}: {notice.detail}")
    else:
        say(f"{mark} {attendee.label}: {notice.kind.value.replace('_', ' ')}: {notice.detail}")


def attendee_table(presenter: LivePresenter) -> str:
    """The live view: every joined attendee with mode, state, latency and last replay result."""
    rows = presenter.attendees
    lines = [
        f"Attendees ({len(rows)}):",
        f"  {'name':<16} {'mode':<7} {'state':<13} {'latency':>8}  {'quality':<9}  last replay",
    ]
    for a in rows:
        latency = "-" if a.latency_ms is None else f"{a.latency_ms:.0f} ms"
        hand = " (hand raised)" if a.hand_raised else ""
        lines.append(
            f"  {a.label[:16]:<16} {a.mode.value:<7} {a.state.value:<13} {latency:>8}  "
            f"{a.quality:<9}  {a.last_result or '-'}{hand}"
        )
    return "\n".join(lines)


async def live_view(presenter: LivePresenter, interval: float) -> None:
    """On a terminal, the attendee table stays in place and is updated live; otherwise it
    is printed every `interval` seconds when something other than latency changed (who is
    there, mode, state, quality, last result)."""
    if is_terminal():
        await LiveScreen(lambda: attendee_rich_table(presenter)).run()
        return
    shown: object = None
    while True:
        await asyncio.sleep(interval)
        rows = presenter.attendees
        signature = [
            (a.label, a.mode, a.state, a.quality, a.last_result, a.hand_raised) for a in rows
        ]
        if rows and signature != shown:
            say(attendee_table(presenter))
            shown = signature


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines of standard input, read by a daemon thread so Ctrl-C never waits on it."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


def describe(event: SessionEvent) -> str:
    if isinstance(event, SessionStart):
        return f"session_start {event.config.name!r} guide {event.config.tutorialUrl or '-'}"
    return str(event)


# -- the live screen (rich), when stdout is a terminal -------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_terminal() -> bool:
    return sys.stdout.isatty()


def cell(text: object, limit: int = 60) -> Text:
    """A table cell that shows text as it is: no rich markup, no control characters."""
    from rich.text import Text

    plain = _CONTROL.sub("?", str(text))
    return Text(plain if len(plain) <= limit else plain[: limit - 1] + "…")


class LiveScreen:
    """A renderable kept in place at the bottom of the terminal and redrawn `fps` times a
    second; lines printed meanwhile (notices) scroll above it. Runs until cancelled."""

    def __init__(self, render: Callable[[], RenderableType], fps: float = 4.0) -> None:
        self.render = render
        self.fps = fps

    async def run(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console()
        with Live(self.render(), console=console, auto_refresh=False, transient=False) as live:
            while True:
                await asyncio.sleep(1 / self.fps)
                live.update(self.render(), refresh=True)


def attendee_rich_table(presenter: LivePresenter) -> RenderableType:
    from rich.table import Table

    rows = presenter.attendees
    table = Table(title=f"Attendees ({len(rows)})", title_justify="left")
    for column in ("name", "mode", "state", "latency", "quality", "last replay"):
        table.add_column(column, justify="right" if column == "latency" else "left")
    for a in rows:
        latency = "-" if a.latency_ms is None else f"{a.latency_ms:.0f} ms"
        hand = " (hand raised)" if a.hand_raised else ""
        table.add_row(
            cell(a.label, 16),
            a.mode.value,
            a.state.value,
            latency,
            a.quality,
            cell((a.last_result or "-") + hand, 80),
        )
    return table


def swarm_line(status: SwarmStatus) -> str:
    """The swarm's state as one line (output that is not a terminal)."""
    line = (
        f"Swarm: {status.joined}/{status.attendees} joined, {status.failed} failed, "
        f"{status.reconnecting} reconnecting; {status.events} events, "
        f"{status.deliveries} deliveries, delivery p50 {describe_ms(status.delivery.p50)} "
        f"p99 {describe_ms(status.delivery.p99)}; heartbeat p50 "
        f"{describe_ms(status.heartbeat.p50)}"
    )
    if status.browsers:
        line += f"; replays {status.replays_ok} ok, {status.replays_failed} failed"
    return line


def swarm_rich_view(status: SwarmStatus, browser_rows: list[tuple[str, ...]]) -> RenderableType:
    """A progress bar while attendees join, then the swarm's table and its browsers'."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    parts: list[RenderableType] = []
    if status.joining:
        done = status.joined + status.failed
        parts.append(Text(f"Joining {done}/{status.attendees}"))
        parts.append(ProgressBar(total=status.attendees, completed=done, width=50))
    table = Table(title="Swarm", title_justify="left")
    figures = {
        "joined": f"{status.joined}/{status.attendees}",
        "failed": str(status.failed),
        "reconnecting": str(status.reconnecting),
        "heartbeat p50": describe_ms(status.heartbeat.p50),
        "round trip p50": describe_ms(status.round_trip.p50),
        "events": str(status.events),
        "deliveries": str(status.deliveries),
        "delivery p50": describe_ms(status.delivery.p50),
        "delivery p99": describe_ms(status.delivery.p99),
    }
    if status.browsers:
        figures["replays ok / failed"] = f"{status.replays_ok} / {status.replays_failed}"
    for name in figures:
        table.add_column(name, justify="right")
    table.add_row(*figures.values())
    parts.append(table)
    if browser_rows:
        browsers = Table(title="Attendees in Chromium", title_justify="left")
        for column in ("name", "state", "ok", "failed", "last replay"):
            browsers.add_column(column)
        for row in browser_rows:
            browsers.add_row(*(cell(value, 80) for value in row))
        parts.append(browsers)
    return Group(*parts)
