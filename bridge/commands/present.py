"""`pathfinder-bridge present`: run a Live Session as the presenter and print its join code.

With a browser, Show me / Do it clicks in the presenter's Grafana tab are captured and
broadcast; with `--no-browser`, session events are JSON lines on standard input; with
`--replay FILE`, a recording is played to whoever joins. `--record FILE` writes the session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.commands.common import (
    EXIT_OK,
    add_browser_flags,
    add_client_flags,
    add_common_flags,
    add_login_flags,
    check_grafana_login,
    check_remote_debugging,
    client_overrides,
    grafana_login,
    load,
    positive_seconds,
    run_async,
)
from bridge.commands.terminal import (
    NoticePrinter,
    kick,
    kick_target,
    live_view,
    say,
    show_signaling_state,
    show_warning,
    stdin_lines,
    typed_commands,
)
from bridge.config import Config
from bridge.errors import BridgeError, ProtocolError
from bridge.printable import printable
from bridge.protocol.events import AttendeeMode, SessionEvent, parse_event

if TYPE_CHECKING:
    from bridge.recording.format import Recording
    from bridge.recording.recorder import SessionRecorder
    from bridge.session.live import LivePresenter
    from bridge.session.presenter import Notice
    from bridge.session.session_file import PresenterIdentity
    from bridge.transport.endpoint import SignalingEndpoint

NAME = "present"
HELP = "run a Live Session as the presenter and print its join code"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Present a Live Session. With --no-browser, session events are read as JSON "
        "lines from standard input and broadcast to every attendee. While it runs, type "
        "`kick NAME` (a name or peer id from the attendee table) to send an attendee away."
    )
    add_common_flags(parser)
    add_client_flags(parser)
    parser.add_argument(
        "--name", help=f"session name (default: {DEFAULT_NAME!r}, or the recording's)"
    )
    parser.add_argument(
        "--guide", metavar="URL", help="the guide (tutorial URL; default: the recording's)"
    )
    parser.add_argument(
        "--grafana",
        default="http://localhost:3000",
        metavar="URL",
        help="Grafana URL the join URL points at",
    )
    parser.add_argument(
        "--mode", choices=("guided", "follow"), default="guided", help="the mode attendees start in"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="no Grafana tab: events from stdin"
    )
    add_browser_flags(parser)
    parser.add_argument(
        "--session-file",
        type=Path,
        metavar="PATH",
        help="keep the session id and key here, so a restarted presenter resumes the session",
    )
    parser.add_argument(
        "--status-interval",
        type=positive_seconds,
        default=15.0,
        metavar="S",
        help="seconds between attendee tables (default 15)",
    )
    add_login_flags(parser, password=True)
    recording = parser.add_argument_group("recorded sessions")
    recording.add_argument(
        "--record",
        type=Path,
        metavar="FILE",
        help="write the session to FILE (JSON lines: events, joins, leaves, mode changes, "
        "replay results)",
    )
    recording.add_argument(
        "--replay",
        type=Path,
        metavar="FILE",
        help="play a recording to the attendees who join (no browser needed)",
    )
    pace = recording.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed", type=positive_number, metavar="X", help="play X times as fast (default 1)"
    )
    pace.add_argument("--step", action="store_true", help="wait for Enter before each event")
    recording.add_argument(
        "--wait-for",
        type=positive_count,
        default=1,
        metavar="N",
        help="start playing once N attendees have joined (default 1)",
    )


DEFAULT_NAME = "pathfinder-bridge session"


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def positive_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    if args.replay is None and (args.speed is not None or args.step):
        raise BridgeError("--speed and --step pace a recording: give --replay FILE too")
    config = load(args, client_overrides(args))
    if args.replay is not None:
        from bridge.recording.files import read_recording
        from bridge.recording.playback import playback_plan

        # Checked whole before anything starts: a bad recording sends nothing.
        recording = read_recording(args.replay)
        playback_plan(recording, args.speed or 1.0)
        return run_async(lambda: present_recording(config, args, recording))
    if args.no_browser:
        return run_async(lambda: present(config, args))
    ask_for_password(args)
    return run_async(lambda: present_in_browser(config, args))


def ask_for_password(args: argparse.Namespace) -> None:
    """Warn that --password shows in `ps`; with a user and no password on a terminal, ask for
    it (a prompt that shows nothing and leaves no trace in the process list)."""
    import getpass
    import os

    user = args.user or os.environ.get("GRAFANA_USER")
    password = args.password or os.environ.get("GRAFANA_PASSWORD")
    if args.password:
        print(
            "pathfinder-bridge: warning: --password is visible to other users of this machine "
            "(ps, /proc); use GRAFANA_PASSWORD or the prompt instead",
            file=sys.stderr,
        )
    if user and not password and sys.stdin.isatty():
        try:
            args.password = getpass.getpass(f"Grafana password for {user}: ") or None
        except (EOFError, KeyboardInterrupt):
            raise BridgeError("no Grafana password given: sign-in cancelled") from None


def parse_input_line(line: str) -> SessionEvent:
    try:
        data = json.loads(line)
    except ValueError:
        raise ProtocolError("not JSON") from None
    return parse_event(data)


def identity_of(args: argparse.Namespace) -> PresenterIdentity | None:
    from bridge.session.session_file import PresenterIdentity

    path = getattr(args, "session_file", None)
    return PresenterIdentity.load_or_create(path) if path is not None else None


def presenter_from(
    config: Config,
    args: argparse.Namespace,
    *,
    also: list[Callable[[Notice], None]] | None = None,
    recording: Recording | None = None,
) -> tuple[SignalingEndpoint, LivePresenter]:
    """The presenter the `present` flags describe, and where it meets its attendees; its
    notices are shown, then handed to each of `also` (a recorder, a player)."""
    from bridge.session.live import LivePresenter
    from bridge.transport.endpoint import SignalingEndpoint

    endpoint = SignalingEndpoint.parse(config.client.server_url, config.client.key)
    # Shown throttled and escaped; the recorder and the player hear every notice.
    listeners: list[Callable[[Notice], None]] = [NoticePrinter(), *(also or [])]

    def on_notice(notice: Notice) -> None:
        for listener in listeners:
            listener(notice)

    header = recording.header if recording is not None else None
    presenter = LivePresenter(
        config.client,
        endpoint,
        name=args.name or (header.session_name if header else "") or DEFAULT_NAME,
        tutorial_url=args.guide if args.guide is not None else (header.guide if header else ""),
        default_mode=AttendeeMode(args.mode),
        on_notice=on_notice,
        identity=identity_of(args),
        on_id_taken=show_signaling_state,
        on_warning=show_warning,
    )
    return endpoint, presenter


def recorder_for(
    args: argparse.Namespace, presenter: LivePresenter, grafana_version: str = ""
) -> SessionRecorder | None:
    """A recorder writing to --record FILE (None without it); the header names the session
    as it runs now."""
    from bridge import __version__
    from bridge.recording.files import RecordingWriter, now_ms
    from bridge.recording.format import Header, Role
    from bridge.recording.recorder import SessionRecorder

    if args.record is None:
        return None
    session = presenter.session
    header = Header(
        role=Role.PRESENTER,
        tool=f"pathfinder-bridge {__version__}",
        started_ms=now_ms(),
        session_id=session.session_id,
        session_name=session.name,
        guide=session.tutorial_url,
        grafana_url=args.grafana,
        grafana_version=grafana_version,
    )
    return SessionRecorder(RecordingWriter(args.record, header).open())


class _Notices:
    """Notice listeners that exist only once the session has started (the recorder)."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[Notice], None]] = []

    def __call__(self, notice: Notice) -> None:
        for listener in self.listeners:
            listener(notice)


def broadcast(
    presenter: LivePresenter, event: SessionEvent, recorder: SessionRecorder | None
) -> int:
    """Send one event to every attendee, and record it."""
    sent = presenter.broadcast(event)
    if recorder is not None:
        recorder.event(presenter.session.stamp(event, now_ms()))
    return sent


def now_ms() -> int:
    import time

    return int(time.time() * 1000)


async def present(config: Config, args: argparse.Namespace) -> int:
    later = _Notices()
    endpoint, presenter = presenter_from(config, args, also=[later])
    code = await presenter.start()
    recorder = recorder_for(args, presenter)
    if recorder is not None:
        later.listeners.append(recorder.notice)
    say(f"Join code: {code.encode()}")
    say(f"Join URL: {code.join_url(args.grafana)}")
    say(
        f"Session {code.id} on {endpoint}; waiting for attendees. "
        "Session events are read as JSON lines from standard input; Ctrl-C ends the session."
    )
    lines = stdin_lines(asyncio.get_running_loop())
    view = asyncio.create_task(live_view(presenter, args.status_interval), name="live-view")
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
            who = kick_target(line)
            if who is not None:
                kick(presenter, who)
                continue
            try:
                event = parse_input_line(line)
            except ProtocolError as exc:
                print(f"pathfinder-bridge: ignored input line {number}: {exc}", file=sys.stderr)
                continue
            sent = broadcast(presenter, event, recorder)
            say(f"> {printable(str(event), 400)} (to {sent} attendee{'s' if sent != 1 else ''})")
    finally:
        view.cancel()
        await asyncio.gather(view, return_exceptions=True)
        await asyncio.shield(presenter.stop("The presenter ended the session"))
        if recorder is not None:
            recorder.end("The presenter ended the session")
        say("Session ended")


async def present_in_browser(config: Config, args: argparse.Namespace) -> int:
    from bridge.browser.capture import ActionCapture, CapturedStep
    from bridge.browser.grafana_tab import grafana_version
    from bridge.browser.launch import wants_headless
    from bridge.grafana.login import LoginKind
    from bridge.protocol.events import Navigation

    login = grafana_login(args, password=True)
    check_remote_debugging(args, login, config.browser.args)
    headless = wants_headless(config.browser, args.headless)
    await check_grafana_login(args.grafana, login, headless=headless)
    later = _Notices()
    endpoint, presenter = presenter_from(config, args, also=[later])
    recorder: SessionRecorder | None = None

    def on_step(step: CapturedStep) -> None:
        # The step is the docs panel's: its guide's author wrote it.
        sent = broadcast(presenter, step.event, recorder)
        say(f"> {printable(str(step.event), 400)} (to {sent} attendee{'s' if sent != 1 else ''})")

    def on_guide(url: str, step_number: int) -> None:
        broadcast(presenter, Navigation(tutorialUrl=url, stepNumber=step_number), recorder)
        say(f"> guide {printable(url)}")

    capture = ActionCapture(
        config.browser,
        args.grafana,
        on_step=on_step,
        on_guide=on_guide,
        headless=headless,
        remote_debugging_port=args.remote_debugging_port,
        login=login,
    )
    code = await presenter.start()
    try:
        await capture.start()
        if login.kind is LoginKind.PASSWORD:
            await capture.sign_in(login.user, login.secret)
        if args.record is not None and capture.page is not None:
            version = await grafana_version(capture.page, config.browser)
            recorder = recorder_for(args, presenter, version)
            if recorder is not None:
                later.listeners.append(recorder.notice)
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
        commands = asyncio.create_task(
            typed_commands(presenter, stdin_lines(asyncio.get_running_loop())), name="commands"
        )
        try:
            await live_view(presenter, args.status_interval)
        finally:
            commands.cancel()
            await asyncio.gather(commands, return_exceptions=True)
    finally:
        await asyncio.shield(presenter.stop("The presenter ended the session"))
        await asyncio.shield(capture.close())
        if recorder is not None:
            recorder.end("The presenter ended the session")
        say("Session ended")
    return EXIT_OK


async def present_recording(config: Config, args: argparse.Namespace, recording: Recording) -> int:
    """An on-demand workshop: the recording played to live attendees through a join code."""
    from bridge.recording.playback import PlannedEvent, playback_plan
    from bridge.recording.player import RecordingPlayer

    plan = playback_plan(recording, args.speed or 1.0)
    later = _Notices()
    endpoint, presenter = presenter_from(config, args, also=[later], recording=recording)
    lines = stdin_lines(asyncio.get_running_loop()) if args.step else None

    async def next_step(index: int, planned: PlannedEvent) -> bool:
        assert lines is not None
        say(f"Enter plays event {index + 1}/{len(plan)}: {printable(planned.label, 400)}")
        return await lines.get() is not None

    def on_played(index: int, planned: PlannedEvent, sent: int) -> None:
        if recorder is not None:
            recorder.event(presenter.session.stamp(planned.event, now_ms()))
        # A recording is a file anyone may have written: its text is escaped like a peer's.
        say(f"> {printable(planned.label, 400)} (to {sent} attendee{'s' if sent != 1 else ''})")

    player = RecordingPlayer(
        presenter,
        plan,
        wait_for=args.wait_for,
        next_step=next_step if args.step else None,
        on_played=on_played,
    )
    later.listeners.append(player.notice)
    code = await presenter.start()
    recorder = recorder_for(args, presenter, recording.header.grafana_version)
    if recorder is not None:
        later.listeners.append(recorder.notice)
    say(f"Join code: {code.encode()}")
    say(f"Join URL: {code.join_url(args.grafana)}")
    waiting = f"{args.wait_for} attendee{'s' if args.wait_for != 1 else ''}"
    say(
        f"Session {code.id} on {endpoint}; replaying {args.replay} ({len(plan)} events) once "
        f"{waiting} joined. Ctrl-C ends the session."
    )
    view = asyncio.create_task(live_view(presenter, args.status_interval), name="live-view")
    reason = "The presenter ended the session"
    try:
        played = await player.play()
        say(f"Replay finished: {played} of {len(plan)} events played")
        reason = "The recorded session is over"
    finally:
        view.cancel()
        await asyncio.gather(view, return_exceptions=True)
        await asyncio.shield(presenter.stop(reason))
        if recorder is not None:
            recorder.end(reason)
        say("Session ended")
    return EXIT_OK
