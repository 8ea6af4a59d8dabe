"""`pathfinder-bridge present`: run a Live Session as the presenter and print its join code.

With a browser, Show me / Do it clicks in the presenter's Grafana tab are captured and
broadcast; with `--no-browser`, session events are JSON lines on standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.commands.common import (
    EXIT_OK,
    add_browser_flags,
    add_client_flags,
    add_common_flags,
    client_overrides,
    load,
    run_async,
)
from bridge.commands.terminal import live_view, say, show_notice, stdin_lines
from bridge.config import Config
from bridge.errors import ProtocolError
from bridge.protocol.events import AttendeeMode, SessionEvent, parse_event

if TYPE_CHECKING:
    from bridge.session.live import LivePresenter
    from bridge.session.session_file import PresenterIdentity
    from bridge.transport.endpoint import SignalingEndpoint

NAME = "present"
HELP = "run a Live Session as the presenter and print its join code"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Present a Live Session. With --no-browser, session events are read as JSON "
        "lines from standard input and broadcast to every attendee."
    )
    add_common_flags(parser)
    add_client_flags(parser)
    parser.add_argument("--name", default="pathfinder-bridge session", help="session name")
    parser.add_argument("--guide", default="", metavar="URL", help="the guide (tutorial URL)")
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
        type=float,
        default=15.0,
        metavar="S",
        help="seconds between attendee tables (default 15)",
    )
    parser.add_argument("--user", help="Grafana user to sign in as (or GRAFANA_USER)")
    parser.add_argument("--password", help="Grafana password (or GRAFANA_PASSWORD)")


def run(args: argparse.Namespace) -> int:
    config = load(args, client_overrides(args))
    if args.no_browser:
        return run_async(lambda: present(config, args))
    return run_async(lambda: present_in_browser(config, args))


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
    config: Config, args: argparse.Namespace
) -> tuple[SignalingEndpoint, LivePresenter]:
    """The presenter the `present` flags describe, and where it meets its attendees."""
    from bridge.session.live import LivePresenter
    from bridge.transport.endpoint import SignalingEndpoint

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
            try:
                event = parse_input_line(line)
            except ProtocolError as exc:
                print(f"pathfinder-bridge: ignored input line {number}: {exc}", file=sys.stderr)
                continue
            sent = presenter.broadcast(event)
            say(f"> {event} (to {sent} attendee{'s' if sent != 1 else ''})")
    finally:
        view.cancel()
        await asyncio.gather(view, return_exceptions=True)
        await asyncio.shield(presenter.stop("The presenter ended the session"))
        say("Session ended")


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
