"""The `pathfinder-bridge` command line: build the parser, dispatch to one command.

Each command lives in `bridge/commands/`. Errors that users can fix (`BridgeError`) are
printed as one line, without a traceback, and exit with status 1; `-v` adds the detail.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from bridge import __version__
from bridge.commands import demo, doctor, follow, login, present, sandbox, swarm
from bridge.commands import signal as signal_command
from bridge.commands.common import EXIT_ERROR
from bridge.errors import BridgeError
from bridge.logs import setup_logging

logger = logging.getLogger("bridge.cli")

#: In the order `--help` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    signal_command,
    present,
    follow,
    swarm,
    login,
    doctor,
    sandbox,
    demo,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pathfinder-bridge",
        description="Grafana Pathfinder Live Sessions, headless: signaling, presenters, attendees.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_arguments(subparsers.add_parser(command.NAME, help=command.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    run: Callable[[argparse.Namespace], int] = next(
        c.run for c in COMMANDS if args.command == c.NAME
    )
    try:
        return run(args)
    except BridgeError as exc:
        print(f"pathfinder-bridge: error: {exc}", file=sys.stderr)
        logger.debug("detail", exc_info=True)
        return EXIT_ERROR
