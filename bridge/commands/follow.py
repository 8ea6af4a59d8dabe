"""`pathfinder-bridge follow`: join a Live Session as an attendee and replay its events.

With a browser, each event is replayed in the attendee's own Grafana (a highlight in guided
mode, the action in follow mode); with `--no-browser`, events are printed (`--json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bridge.commands.common import (
    EXIT_OK,
    add_browser_flags,
    add_client_flags,
    add_common_flags,
    add_login_flags,
    check_grafana_login,
    client_overrides,
    grafana_login,
    load,
    run_async,
)
from bridge.commands.terminal import describe, say, stdin_lines
from bridge.commands.typed_input import TypedInput
from bridge.config import Config
from bridge.errors import BridgeError
from bridge.printable import printable
from bridge.protocol.events import AttendeeMode, SessionStart

if TYPE_CHECKING:
    from bridge.browser.replay import ActionReplay
    from bridge.session.live import LiveAttendee

NAME = "follow"
HELP = "join a Live Session as an attendee"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Join a Live Session by its join code (or join URL) and replay its events."
    add_common_flags(parser)
    add_client_flags(parser)
    parser.add_argument("code", metavar="CODE", help="join code or join URL")
    parser.add_argument("--name", default="Anonymous", help="your name, shown to the presenter")
    parser.add_argument("--mode", choices=("guided", "follow"), default="guided")
    parser.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    parser.add_argument("--no-browser", action="store_true", help="print events, replay nothing")
    parser.add_argument(
        "--grafana",
        metavar="URL",
        help="your own Grafana (default: the origin of a pasted join URL)",
    )
    parser.add_argument(
        "--confirm",
        choices=("destructive", "all", "none"),
        help="in follow mode, ask on this terminal before a Do it that reads like "
        "delete/remove/revoke/overwrite (destructive, the default), before every Do it (all), "
        "or never (none); no answer in time, or no terminal, means no",
    )
    add_browser_flags(parser)
    add_login_flags(parser, password=False)


def run(args: argparse.Namespace) -> int:
    overrides = client_overrides(args)
    if args.confirm:
        overrides["browser"] = {"confirm": args.confirm}
    config = load(args, overrides)
    if args.no_browser:
        return run_async(lambda: follow(config, args))
    return run_async(lambda: follow_in_browser(config, args))


async def follow(config: Config, args: argparse.Namespace) -> int:
    from bridge.protocol.joincode import JoinCode
    from bridge.session.live import LiveAttendee, SessionError
    from bridge.transport.endpoint import SignalingEndpoint

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
        raise BridgeError(printable(str(exc))) from None
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
    print(f"Session ended: {printable(reason)}", file=status, flush=True)
    return EXIT_OK


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


async def follow_in_browser(config: Config, args: argparse.Namespace) -> int:
    from bridge.browser.confirm import ConfirmPolicy
    from bridge.browser.launch import wants_headless
    from bridge.browser.replay import ActionReplay
    from bridge.protocol.events import AttendeeState, StepEvent, guide_url
    from bridge.protocol.joincode import JoinCode
    from bridge.session.live import LiveAttendee, SessionError
    from bridge.transport.endpoint import SignalingEndpoint

    code = JoinCode.parse(args.code)
    grafana = grafana_for_attendee(args.grafana, args.code)
    login = grafana_login(args, password=False)
    headless = wants_headless(config.browser, args.headless)
    await check_grafana_login(grafana, login, headless=headless)
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
    typed_input = TypedInput(stdin_lines(asyncio.get_running_loop()))

    async def confirm(question: str) -> bool:
        return await typed_input.ask(question, within=config.browser.confirm_timeout)

    replay = ActionReplay(
        config.browser,
        grafana,
        mode=mode,
        headless=headless,
        remote_debugging_port=args.remote_debugging_port,
        login=login,
        confirm_policy=ConfirmPolicy(config.browser.confirm),
        confirm=confirm,
    )
    reading = asyncio.create_task(typed_input.pump(), name="typed input")
    guide = ""
    try:
        await replay.start()
        try:
            await attendee.join()
        except SessionError as exc:
            raise BridgeError(printable(str(exc))) from None
        say(f"Joined session {code.id} as {args.name} ({mode.value} mode) in {grafana}")
        say("Type 'mode follow', 'mode guided', 'hand' or 'leave' to act in the session.")
        events = asyncio.ensure_future(attendee.next_event())
        typed: asyncio.Future[str | None] = asyncio.ensure_future(typed_input.command())
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
                    typed = asyncio.ensure_future(typed_input.command())
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
                say(f"Opened guide {printable(url)}")
            if isinstance(event, StepEvent):
                result = await replay.replay(event)
                say(f"{event.TYPE} {printable(event.stepId, 80)}: {printable(str(result))}")
                if result.ok:
                    attendee.report(AttendeeState.JOINED, step=event.stepId)
                else:
                    attendee.report(
                        AttendeeState.ERROR, step=event.stepId, error=result.detail[:300]
                    )
        events.cancel()
        typed.cancel()
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await asyncio.shield(attendee.close())
        await asyncio.shield(replay.close())
    assert attendee.outcome is not None
    reason = attendee.outcome.result() if attendee.outcome.done() else "left"
    say(f"Session ended: {printable(reason)}")
    return EXIT_OK


def follow_command(line: str, attendee: LiveAttendee, replay: ActionReplay) -> bool:
    """Apply one typed command; False means leave."""
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
