"""The terminal side of `present --no-browser` and `follow --no-browser`.

Output lines that scripts rely on (`Join code: CODE`, `Join URL: URL`, one JSON object per
line with `--json`) go to stdout; everything else a person reads also goes to stdout, logs
go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading

from bridge.config import Config
from bridge.errors import BridgeError, ProtocolError
from bridge.protocol.events import AttendeeMode, SessionEvent, SessionStart, parse_event
from bridge.protocol.joincode import JoinCode
from bridge.session.live import LiveAttendee, LivePresenter, SessionError
from bridge.session.presenter import Notice, NoticeKind
from bridge.transport.endpoint import SignalingEndpoint

EXIT_OK = 0
EXIT_FAILED = 1

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


def show_notice(notice: Notice) -> None:
    attendee = notice.attendee
    mark = _NOTICE_MARKS[notice.kind]
    if notice.kind is NoticeKind.JOINED:
        say(f"{mark} {attendee.label} joined ({notice.detail} mode)")
    elif notice.kind is NoticeKind.LEFT:
        say(f"{mark} {attendee.label} left")
    else:
        say(f"{mark} {attendee.label}: {notice.kind.value.replace('_', ' ')}: {notice.detail}")


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines of standard input, read by a daemon thread so Ctrl-C never waits on it."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


def parse_input_line(line: str) -> SessionEvent:
    try:
        data = json.loads(line)
    except ValueError:
        raise ProtocolError("not JSON") from None
    return parse_event(data)


async def present(config: Config, args: argparse.Namespace) -> int:
    endpoint = SignalingEndpoint.parse(config.client.server_url, config.client.key)
    presenter = LivePresenter(
        config.client,
        endpoint,
        name=args.name,
        tutorial_url=args.guide,
        default_mode=AttendeeMode(args.mode),
        on_notice=show_notice,
    )
    code = await presenter.start()
    say(f"Join code: {code.encode()}")
    say(f"Join URL: {code.join_url(args.grafana)}")
    say(
        f"Session {code.id} on {endpoint}; waiting for attendees. "
        "Session events are read as JSON lines from standard input; Ctrl-C ends the session."
    )
    lines = stdin_lines(asyncio.get_running_loop())
    number = 0
    try:
        while True:
            line = await lines.get()
            if line is None:
                await asyncio.Event().wait()  # stdin closed: keep the session until Ctrl-C
                continue
            number += 1
            if not line.strip():
                continue
            try:
                event = parse_input_line(line)
            except ProtocolError as exc:
                print(f"pathfinder-bridge: ignored input line {number}: {exc}", file=sys.stderr)
                continue
            sent = presenter.broadcast(event)
            say(f"> {event} (to {sent} attendee{'s' if sent != 1 else ''})")
    finally:
        await asyncio.shield(presenter.stop("The presenter ended the session"))
        say("Session ended")


def describe(event: SessionEvent) -> str:
    if isinstance(event, SessionStart):
        return f"session_start {event.config.name!r} guide {event.config.tutorialUrl or '-'}"
    return str(event)


async def follow(config: Config, args: argparse.Namespace) -> int:
    code = JoinCode.parse(args.code)
    endpoint = SignalingEndpoint.parse(config.client.server_url, config.client.key)
    attendee = LiveAttendee(
        config.client, endpoint, code, name=args.name, mode=AttendeeMode(args.mode)
    )
    status = sys.stderr if args.json else sys.stdout
    try:
        await attendee.join()
    except SessionError as exc:
        raise BridgeError(str(exc)) from None
    print(f"Joined session {code.id} as {args.name} ({args.mode} mode)", file=status, flush=True)
    try:
        while True:
            event = await attendee.next_event()
            if event is None:
                break
            if args.json:
                print(json.dumps(event.to_wire(), separators=(",", ":")), flush=True)
            else:
                say(describe(event))
    finally:
        await asyncio.shield(attendee.close())
    assert attendee.outcome is not None
    reason = attendee.outcome.result() if attendee.outcome.done() else "left"
    print(f"Session ended: {reason}", file=status, flush=True)
    return EXIT_OK
