"""What several commands print: status lines, presenter notices, the attendee table, and
typed input. Lines that scripts rely on (`Join code: CODE`, `Join URL: URL`, one JSON object
per line with `--json`) go to stdout; logs go to stderr.

Everything a peer wrote (names, chat, status details, the presenter's event fields) passes
through `printable()` before it is shown, and presenter notices go through `NoticeThrottle`,
so a hostile peer can neither drive the terminal nor flood it."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.percentiles import describe_ms
from bridge.printable import printable, printable_lines
from bridge.protocol.events import SessionEvent, SessionStart
from bridge.ratelimit import TokenBucket

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

    from bridge.doctor.report import Check
    from bridge.grafana.login import GrafanaLogin
    from bridge.session.live import LivePresenter
    from bridge.session.presenter import Notice
    from bridge.swarm.tally import SwarmStatus

#: By NoticeKind (a StrEnum: its members are these strings). The session modules are imported
#: where a notice is printed, not here: every command's process imports this module, the
#: signaling server's too, and they (cryptography) cost it 7 MiB of RSS.
_NOTICE_MARKS = {
    "joined": "+",
    "left": "-",
    "mode_changed": "~",
    "status": "=",
    "hand_raised": "?",
    "chat": ">",
    "rejected": "!",
    "lost": "!",
}


def say(text: str) -> None:
    """One status line (or our own table) on stdout; control characters never get through."""
    print(printable_lines(text), flush=True)


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


def notice_line(notice: Notice) -> str:
    """A notice as one line: the peer's name and detail escaped and cut short."""
    from bridge.session.presenter import NoticeKind

    name = printable(notice.attendee.label, 40)
    detail = printable(notice.detail, 300)
    mark = _NOTICE_MARKS[notice.kind]
    if notice.kind is NoticeKind.JOINED:
        return f"{mark} {name} joined ({detail} mode)"
    if notice.kind is NoticeKind.LEFT:
        return f"{mark} {name} left"
    if notice.kind is NoticeKind.STATUS:
        return f"{mark} {name}: {detail}"
    return f"{mark} {name}: {notice.kind.value.replace('_', ' ')}: {detail}"


@dataclass
class NoticeThrottle:
    """Which presenter notices reach the screen (sans-I/O: time is passed in).

    The same notice from the same connection within `repeat_window` seconds is shown once;
    each connection gets `per_connection` notices a second (bursts of `per_connection_burst`)
    and all together `overall` a second (bursts of `overall_burst`). Replay results come one
    per presenter event and repeat on purpose (a step's show_me and do_it both report "ok
    (step s)"), so they are never deduplicated and have a budget of their own per connection
    (`results_per_connection`, bursts of `results_burst`). What is held back is counted and
    summed up in one line when the next notice gets through.
    """

    repeat_window: float = 10.0
    per_connection: float = 1.0
    per_connection_burst: float = 6.0
    results_per_connection: float = 5.0
    results_burst: float = 20.0
    overall: float = 10.0
    overall_burst: float = 30.0
    max_remembered: int = 2048
    suppressed: int = 0
    _last_shown: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _buckets: dict[tuple[str, bool], TokenBucket] = field(default_factory=dict)
    _overall: TokenBucket | None = None

    def allow(self, notice: Notice, now: float) -> bool:
        if self._overall is None:
            self._overall = TokenBucket(self.overall, self.overall_burst, updated=now)
        self._forget_old(now)
        key = (notice.attendee.conn, notice.kind.value, notice.detail)
        last = self._last_shown.get(key)
        result = notice.kind == "status"  # NoticeKind.STATUS (a StrEnum)
        if not result and last is not None and now - last < self.repeat_window:
            self.suppressed += 1
            return False
        bucket = self._buckets.get((notice.attendee.conn, result))
        if bucket is None:
            rate, burst = (
                (self.results_per_connection, self.results_burst)
                if result
                else (self.per_connection, self.per_connection_burst)
            )
            bucket = TokenBucket(rate, burst, updated=now)
            self._buckets[notice.attendee.conn, result] = bucket
        if not bucket.take(now) or not self._overall.take(now):
            self.suppressed += 1
            return False
        self._last_shown[key] = now
        return True

    def take_suppressed(self) -> int:
        count, self.suppressed = self.suppressed, 0
        return count

    def _forget_old(self, now: float) -> None:
        if len(self._last_shown) < self.max_remembered and len(self._buckets) < self.max_remembered:
            return
        self._last_shown = {
            key: at for key, at in self._last_shown.items() if now - at < self.repeat_window
        }
        live = {conn for conn, _, _ in self._last_shown}
        self._buckets = {key: b for key, b in self._buckets.items() if key[0] in live}


class NoticePrinter:
    """The presenter's `on_notice`: throttled, escaped notice lines on stdout."""

    def __init__(
        self,
        throttle: NoticeThrottle | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] = say,
    ) -> None:
        self.throttle = throttle or NoticeThrottle()
        self._clock = clock
        self._write = write

    def __call__(self, notice: Notice) -> None:
        if not self.throttle.allow(notice, self._clock()):
            return
        held_back = self.throttle.take_suppressed()
        if held_back:
            s = "s" if held_back != 1 else ""
            self._write(f"! {held_back} repeated or excess notice{s} not shown")
        self._write(notice_line(notice))


def show_signaling_state(session_id: str, taken: bool) -> None:
    """Loud lines for the presenter when another peer holds its session id, and when it is back."""
    if taken:
        say(
            f"!! Someone else holds session id {session_id} on the signaling server: new "
            "attendees reach them, not you. Attendees using this join code refuse them (the "
            "identity check); retrying until the id is free again."
        )
    else:
        say(f"Session id {session_id} is ours again on the signaling server; attendees can join.")


def show_warning(text: str) -> None:
    """Something the presenter must act on (its text holds no peer's text)."""
    say(f"!! {text}")


def kick_target(line: str) -> str | None:
    """`kick NAME` (a name or a peer id, as the attendee table shows it): NAME, else None."""
    command, _, who = line.strip().partition(" ")
    return who.strip() or None if command == "kick" else None


def kick(presenter: LivePresenter, who: str) -> None:
    """Send away the attendee named `who` and say what happened; when the name is shared
    (peers choose their names), list who shares it and ask for a peer id."""
    result = presenter.kick(who)
    name = printable(who, 40)
    if result.ambiguous:
        matches = ", ".join(
            f"{printable(a.label, 40)} (peer id {printable(a.peer_id, 40)})"
            for a in result.ambiguous
        )
        say(
            f"kick: {name} matches {len(result.ambiguous)} attendees: {matches}; nobody was sent "
            "away. Type `kick PEER_ID` to send one of them away."
        )
        return
    if not result.sent_away:
        say(f"kick: nobody named {name}")
        return
    ids = ", ".join(printable(p, 40) for p in sorted(result.sent_away))
    say(
        f"Sent away {name} (peer id {ids}); this peer id is refused for the rest of this "
        "session (a new peer id can join again)"
    )
    for other in result.shadowed:
        say(
            f"kick: {printable(other.label, 40)} (peer id {printable(other.peer_id, 40)}) calls "
            f"itself {name} and stays: a peer id comes before a name"
        )


async def typed_commands(presenter: LivePresenter, lines: asyncio.Queue[str | None]) -> None:
    """What the presenter types while the session runs: `kick NAME`."""
    while (line := await lines.get()) is not None:
        who = kick_target(line)
        if who is not None:
            kick(presenter, who)
        elif line.strip():
            print("pathfinder-bridge: type `kick NAME` to send an attendee away", file=sys.stderr)


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
            f"  {printable(a.label, 15):<16} {a.mode.value:<7} {a.state.value:<13} "
            f"{latency:>8}  {a.quality:<9}  {printable(a.last_result or '-', 120)}{hand}"
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
    """One line for an event from the presenter, its text escaped."""
    if isinstance(event, SessionStart):
        name, guide = printable(event.config.name, 100), printable(event.config.tutorialUrl, 300)
        return f"session_start '{name}' guide {guide or '-'}"
    return printable(str(event), 400)


# -- the live screen (rich), when stdout is a terminal -------------------------------------


def is_terminal() -> bool:
    return sys.stdout.isatty()


def cell(text: object, limit: int = 60) -> Text:
    """A table cell that shows a peer's text as text: no rich markup, controls escaped."""
    from rich.text import Text

    return Text(printable(str(text), limit))


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
