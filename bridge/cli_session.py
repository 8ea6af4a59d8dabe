"""The terminal side of `present --no-browser` and `follow --no-browser`.

Output lines that scripts rely on (`Join code: CODE`, `Join URL: URL`, one JSON object per
line with `--json`) go to stdout; everything else a person reads also goes to stdout, logs
go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

from bridge.config import Config
from bridge.errors import BridgeError, ProtocolError
from bridge.protocol.events import AttendeeMode, SessionEvent, SessionStart, parse_event
from bridge.protocol.joincode import JoinCode
from bridge.session.live import LiveAttendee, LivePresenter, SessionError
from bridge.session.presenter import Notice, NoticeKind
from bridge.session.session_file import PresenterIdentity
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


def parse_input_line(line: str) -> SessionEvent:
    try:
        data = json.loads(line)
    except ValueError:
        raise ProtocolError("not JSON") from None
    return parse_event(data)


def identity_of(args: argparse.Namespace) -> PresenterIdentity | None:
    path = getattr(args, "session_file", None)
    return PresenterIdentity.load_or_create(path) if path is not None else None


def presenter_from(
    config: Config, args: argparse.Namespace
) -> tuple[SignalingEndpoint, LivePresenter]:
    """The presenter the `present` flags describe, and where it meets its attendees."""
    endpoint = SignalingEndpoint.parse(config.client.server_url, config.client.key)
    presenter = LivePresenter(
        config.client,
        endpoint,
        name=args.name,
        tutorial_url=args.guide,
        default_mode=AttendeeMode(args.mode),
        on_notice=show_notice,
        identity=identity_of(args),
    )
    return endpoint, presenter


async def present(config: Config, args: argparse.Namespace) -> int:
    endpoint, presenter = presenter_from(config, args)
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
    status = sys.stderr if args.json else sys.stdout
    attendee = LiveAttendee(
        config.client,
        endpoint,
        code,
        name=args.name,
        mode=AttendeeMode(args.mode),
        on_state=lambda text: print(text[0].upper() + text[1:], file=status, flush=True),
    )
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


# -- with a browser ------------------------------------------------------------------------


def grafana_for_attendee(args_grafana: str | None, code_text: str) -> str:
    """--grafana, else the origin of a pasted join URL."""
    if args_grafana:
        return args_grafana
    text = code_text.strip()
    if text.startswith(("http://", "https://")):
        parts = urlsplit(text)
        return f"{parts.scheme}://{parts.netloc}"
    raise BridgeError(
        "which Grafana should replay the session? Give --grafana URL (your own Grafana), or "
        "paste the whole join URL instead of the code"
    )


async def present_in_browser(config: Config, args: argparse.Namespace) -> int:
    from bridge.browser.capture import ActionCapture, CapturedStep
    from bridge.browser.launch import wants_headless
    from bridge.protocol.events import Navigation

    endpoint, presenter = presenter_from(config, args)

    def on_step(step: CapturedStep) -> None:
        sent = presenter.broadcast(step.event)
        say(f"> {step.event} (to {sent} attendee{'s' if sent != 1 else ''})")

    def on_guide(url: str, step_number: int) -> None:
        presenter.broadcast(Navigation(tutorialUrl=url, stepNumber=step_number))
        say(f"> guide {url}")

    capture = ActionCapture(
        config.browser,
        args.grafana,
        on_step=on_step,
        on_guide=on_guide,
        headless=wants_headless(config.browser, args.headless),
        remote_debugging_port=args.remote_debugging_port,
    )
    code = await presenter.start()
    try:
        await capture.start()
        user = args.user or os.environ.get("GRAFANA_USER")
        password = args.password or os.environ.get("GRAFANA_PASSWORD")
        if user and password:
            await capture.sign_in(user, password)
        if args.guide:
            await capture.open_guide(args.guide)
        say(f"Join code: {code.encode()}")
        say(f"Join URL: {code.join_url(args.grafana)}")
        if args.remote_debugging_port:
            say(f"Browser: http://127.0.0.1:{args.remote_debugging_port} (remote debugging)")
        say(
            f"Session {code.id} on {endpoint}; click Show me / Do it in the Grafana tab. "
            "Ctrl-C ends the session."
        )
        await live_view(presenter, args.status_interval)
    finally:
        await asyncio.shield(presenter.stop("The presenter ended the session"))
        await asyncio.shield(capture.close())
        say("Session ended")
    return EXIT_OK


async def follow_in_browser(config: Config, args: argparse.Namespace) -> int:
    from bridge.browser.launch import wants_headless
    from bridge.browser.replay import ActionReplay
    from bridge.protocol.events import AttendeeState, StepEvent, guide_url

    code = JoinCode.parse(args.code)
    grafana = grafana_for_attendee(args.grafana, args.code)
    endpoint = SignalingEndpoint.parse(config.client.server_url, config.client.key)
    mode = AttendeeMode(args.mode)
    attendee = LiveAttendee(
        config.client,
        endpoint,
        code,
        name=args.name,
        mode=mode,
        on_state=lambda text: say(text[0].upper() + text[1:]),
    )
    replay = ActionReplay(
        config.browser,
        grafana,
        mode=mode,
        headless=wants_headless(config.browser, args.headless),
        remote_debugging_port=args.remote_debugging_port,
    )
    commands = stdin_lines(asyncio.get_running_loop())
    guide = ""
    try:
        await replay.start()
        try:
            await attendee.join()
        except SessionError as exc:
            raise BridgeError(str(exc)) from None
        say(f"Joined session {code.id} as {args.name} ({mode.value} mode) in {grafana}")
        say("Type 'mode follow', 'mode guided', 'hand' or 'leave' to act in the session.")
        events = asyncio.ensure_future(attendee.next_event())
        typed: asyncio.Future[str | None] = asyncio.ensure_future(commands.get())
        while True:
            pending: list[asyncio.Future[Any]] = [events, typed]
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if typed.done():
                line = typed.result()
                if line is None:
                    typed = asyncio.get_running_loop().create_future()  # stdin closed: never
                else:
                    if not follow_command(line.strip(), attendee, replay):
                        break
                    typed = asyncio.ensure_future(commands.get())
            if not events.done():
                continue
            event = events.result()
            if event is None:
                break
            events = asyncio.ensure_future(attendee.next_event())
            if isinstance(event, SessionStart):
                say(describe(event))
            url = guide_url(event)
            if url and url != guide:
                guide = url
                await replay.open_guide(url)
                say(f"Opened guide {url}")
            if isinstance(event, StepEvent):
                result = await replay.replay(event)
                say(f"{event.TYPE} {event.stepId}: {result}")
                if result.ok:
                    attendee.report(AttendeeState.JOINED, step=event.stepId)
                else:
                    attendee.report(
                        AttendeeState.ERROR, step=event.stepId, error=result.detail[:300]
                    )
        events.cancel()
        typed.cancel()
    finally:
        await asyncio.shield(attendee.close())
        await asyncio.shield(replay.close())
    assert attendee.outcome is not None
    say(f"Session ended: {attendee.outcome.result() if attendee.outcome.done() else 'left'}")
    return EXIT_OK


def follow_command(line: str, attendee: LiveAttendee, replay: object) -> bool:
    """Apply one typed command; False means leave."""
    from bridge.browser.replay import ActionReplay

    assert isinstance(replay, ActionReplay)
    words = line.split()
    if not words:
        return True
    if words[0] == "mode" and len(words) == 2 and words[1] in ("guided", "follow"):
        mode = AttendeeMode(words[1])
        replay.mode = mode
        attendee.change_mode(mode)
        say(f"Mode: {mode.value}")
    elif words[0] == "hand":
        attendee.raise_hand(True)
        say("Hand raised")
    elif words[0] in ("leave", "quit", "exit"):
        return False
    else:
        print(f"pathfinder-bridge: unknown command {line[:40]!r}", file=sys.stderr)
    return True
