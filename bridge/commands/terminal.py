"""What several commands print: status lines, presenter notices, the attendee table, and
typed input. Lines that scripts rely on (`Join code: CODE`, `Join URL: URL`, one JSON object
per line with `--json`) go to stdout; logs go to stderr."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TYPE_CHECKING

from bridge.protocol.events import SessionEvent, SessionStart
from bridge.session.presenter import Notice, NoticeKind

if TYPE_CHECKING:
    from bridge.doctor.report import Check
    from bridge.grafana.login import GrafanaLogin
    from bridge.session.live import LivePresenter

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
    """Print the attendee table every `interval` seconds when something other than latency
    changed (who is there, mode, state, quality, last result)."""
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
