"""The `pathfinder-bridge` command line: parse flags, load config, run one command.

Errors that users can fix (`BridgeError`) are printed as one line, without a
traceback, and exit with status 1; `-v` adds the detail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.config import Config, default_config_file, load_config
from bridge.errors import BridgeError
from bridge.logs import setup_logging

logger = logging.getLogger("bridge.cli")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v: component logs, -vv: libraries too"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="config file (default: ./config.yaml)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathfinder-bridge",
        description="Grafana Pathfinder Live Sessions, headless: signaling, presenters, attendees.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sig = commands.add_parser(
        "signal",
        help="run the PeerJS-compatible signaling server",
        description="Run the signaling server in the foreground, or manage it in the background.",
    )
    sig.add_argument(
        "action",
        nargs="?",
        choices=("run", "start", "stop", "status", "restart"),
        default="run",
        help="run (foreground, default), or start|stop|status|restart in the background",
    )
    _common(sig)
    sig.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    sig.add_argument("--port", type=int, help="port (default 9000; 0 picks a free one)")
    sig.add_argument("--path", help="URL path (default /pathfinder)")
    sig.add_argument("--key", help="API key clients must present (default pathfinder)")
    sig.add_argument(
        "--alive-timeout", type=float, help="seconds of silence before a peer is dropped"
    )
    sig.add_argument(
        "--expire-timeout", type=float, help="seconds a message waits for an absent peer"
    )
    sig.add_argument(
        "--allow-discovery", action="store_true", default=None, help="serve the peer list"
    )
    sig.add_argument(
        "--allowed-origin",
        action="append",
        dest="allowed_origins",
        metavar="ORIGIN",
        help="allow this browser Origin (repeatable; default any)",
    )
    sig.add_argument("--tls-cert", help="certificate (PEM) to serve https and wss")
    sig.add_argument("--tls-key", help="private key (PEM) for --tls-cert")
    sig.add_argument("--state-dir", help="where start/stop keep the pid and log files")
    present = commands.add_parser(
        "present",
        help="run a Live Session as the presenter and print its join code",
        description="Present a Live Session. With --no-browser, session events are read as JSON "
        "lines from standard input and broadcast to every attendee.",
    )
    _common(present)
    _client_flags(present)
    present.add_argument("--name", default="pathfinder-bridge session", help="session name")
    present.add_argument("--guide", default="", metavar="URL", help="the guide (tutorial URL)")
    present.add_argument(
        "--grafana",
        default="http://localhost:3000",
        metavar="URL",
        help="Grafana URL the join URL points at",
    )
    present.add_argument(
        "--mode", choices=("guided", "follow"), default="guided", help="the mode attendees start in"
    )
    present.add_argument(
        "--no-browser", action="store_true", help="no Grafana tab: events from stdin"
    )
    _browser_flags(present)
    present.add_argument(
        "--session-file",
        type=Path,
        metavar="PATH",
        help="keep the session id and key here, so a restarted presenter resumes the session",
    )
    present.add_argument(
        "--status-interval",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds between attendee tables (default 15)",
    )
    present.add_argument("--user", help="Grafana user to sign in as (or GRAFANA_USER)")
    present.add_argument("--password", help="Grafana password (or GRAFANA_PASSWORD)")

    follow = commands.add_parser(
        "follow",
        help="join a Live Session as an attendee",
        description="Join a Live Session by its join code (or join URL) and replay its events.",
    )
    _common(follow)
    _client_flags(follow)
    follow.add_argument("code", metavar="CODE", help="join code, join URL, or 6-character id")
    follow.add_argument("--name", default="Anonymous", help="your name, shown to the presenter")
    follow.add_argument("--mode", choices=("guided", "follow"), default="guided")
    follow.add_argument("--json", action="store_true", help="one JSON object per event on stdout")
    follow.add_argument("--no-browser", action="store_true", help="print events, replay nothing")
    follow.add_argument(
        "--grafana",
        metavar="URL",
        help="your own Grafana (default: the origin of a pasted join URL)",
    )
    _browser_flags(follow)
    sandbox = commands.add_parser(
        "sandbox",
        help="serve the sandbox: a local app with Grafana's and Pathfinder's DOM contract",
        description="Serve the sandbox (not Grafana: a local stand-in with the same DOM contract) "
        "for demos and tests.",
    )
    _common(sandbox)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 picks one)")
    sandbox.add_argument(
        "--grafana-version",
        default="12.0.0",
        metavar="V",
        help="Grafana version whose selectors the sandbox renders",
    )
    sandbox.add_argument("--require-login", action="store_true", help="show a login page first")
    demo = commands.add_parser(
        "demo",
        help="run a whole session on the bundled sandbox: presenter, guided and follow attendees",
        description="Start the signaling server, two sandboxes, a presenter that walks a guide and "
        "two attendees (guided and follow), then print the event flow and a summary.",
    )
    _common(demo)
    demo.add_argument(
        "--guide",
        default="welcome-tour",
        choices=("welcome-tour", "first-dashboard", "connect-datasource"),
    )
    demo.add_argument("--headed", action="store_true", help="show the browser")
    demo.add_argument("--pause", type=float, default=0.3, help="seconds between clicks")
    return parser


def _browser_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--headless", action="store_true", help="no browser window")
    parser.add_argument(
        "--remote-debugging-port",
        type=int,
        metavar="N",
        help="expose the browser on 127.0.0.1:N for other tools",
    )


def _client_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        metavar="URL",
        help="signaling server, http://HOST:PORT/PATH (default from config.yaml)",
    )
    parser.add_argument("--key", help="signaling server key (default pathfinder)")


def _client_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.server:
        overrides["server_url"] = args.server
    if args.key:
        overrides["key"] = args.key
    return {"client": overrides}


def _server_overrides(args: argparse.Namespace) -> dict[str, Any]:
    names = (
        "host",
        "port",
        "path",
        "key",
        "alive_timeout",
        "expire_timeout",
        "allow_discovery",
        "allowed_origins",
        "tls_cert",
        "tls_key",
        "state_dir",
    )
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _server_flags(args: argparse.Namespace) -> list[str]:
    """The flags to hand to a background `signal run`, so it runs what was asked."""
    flags: list[str] = []
    for name, value in _server_overrides(args).items():
        flag = "--" + name.replace("_", "-")
        if name == "allowed_origins":
            for origin in value:
                flags += ["--allowed-origin", origin]
        elif value is True:
            flags.append(flag)
        else:
            flags += [flag, str(value)]
    if args.config is not None:
        flags += ["--config", str(args.config.resolve())]
    if args.verbose:
        flags.append("-" + "v" * args.verbose)
    return flags


def _load(args: argparse.Namespace, overrides: dict[str, Any]) -> Config:
    path = args.config if args.config is not None else default_config_file()
    return load_config(path, overrides=overrides)


def _run_async(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run `main` until it finishes, Ctrl-C or SIGTERM; both end it cleanly by cancellation."""

    async def runner() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await main()
        except asyncio.CancelledError:
            return EXIT_OK

    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:
        return EXIT_OK


def cmd_signal(args: argparse.Namespace) -> int:
    from bridge.signaling import service
    from bridge.signaling.server import SignalingServer

    config = _load(args, {"server": _server_overrides(args)})
    if args.action == "status":
        state = service.status(config.server)
        print(state.describe())
        return EXIT_OK if state.running else EXIT_NOT_RUNNING
    if args.action == "stop":
        stopped = service.stop(config.server)
        print("Signaling server stopped" if stopped else "Signaling server was not running")
        return EXIT_OK
    if args.action in ("start", "restart"):
        if args.action == "restart":
            service.stop(config.server)
        state = service.start(config.server, _server_flags(args))
        print(f"Signaling server started: pid {state.pid}, {state.url}")
        print(f"Log: {service.ServiceFiles.for_port(config.server).log}")
        return EXIT_OK

    async def serve() -> int:
        async with SignalingServer(config.server) as server:
            print("pathfinder-bridge signaling server (PeerJS-compatible)")
            print(f"  URL:  {server.url}")
            print(f"  Key:  {config.server.key}")
            print(f"  Metrics: {server.url}/metrics")
            print("Ready for connections", flush=True)
            await server.serve_forever()
        return EXIT_OK

    return _run_async(serve)


def cmd_present(args: argparse.Namespace) -> int:
    from bridge.cli_session import present, present_in_browser

    config = _load(args, _client_overrides(args))
    if args.no_browser:
        return _run_async(lambda: present(config, args))
    return _run_async(lambda: present_in_browser(config, args))


def cmd_follow(args: argparse.Namespace) -> int:
    from bridge.cli_session import follow, follow_in_browser

    config = _load(args, _client_overrides(args))
    if args.no_browser:
        return _run_async(lambda: follow(config, args))
    return _run_async(lambda: follow_in_browser(config, args))


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bridge.browser.contract import grafana_selectors
    from bridge.sandbox.server import SandboxServer, SandboxSettings, guide_list

    settings = SandboxSettings(args.host, args.port, args.grafana_version, args.require_login)
    table = grafana_selectors(args.grafana_version)

    async def serve() -> int:
        with SandboxServer(settings) as sandbox:
            print(
                f"pathfinder-bridge sandbox (Grafana {args.grafana_version} DOM contract; "
                f"selectors of {table.grafana_version} from @grafana/e2e-selectors "
                f"{table.package_version})"
            )
            print(f"  URL:    {sandbox.url}")
            for guide in guide_list():
                print(f"  Guide:  {sandbox.guide_url(guide['id'])}  ({guide['title']})")
            print("Ready", flush=True)
            await asyncio.Event().wait()
        return EXIT_OK

    return _run_async(serve)


def cmd_demo(args: argparse.Namespace) -> int:
    from bridge.demo import Demo

    config = _load(args, {})
    demo = Demo(config, guide=args.guide, headless=not args.headed, pause=args.pause)
    return _run_async(demo.run)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "sandbox": cmd_sandbox,
    "signal": cmd_signal,
    "present": cmd_present,
    "follow": cmd_follow,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except BridgeError as exc:
        print(f"pathfinder-bridge: error: {exc}", file=sys.stderr)
        logger.debug("detail", exc_info=True)
        return EXIT_ERROR
