"""`pathfinder-bridge demo`: a whole Live Session on the bundled sandbox (see `bridge.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridge.commands.common import add_common_flags, load, run_async

NAME = "demo"
HELP = "run a whole session on the bundled sandbox: presenter, guided and follow attendees"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Start the signaling server, two sandboxes, a presenter that walks a guide and "
        "two attendees (guided and follow), then print the event flow and a summary."
    )
    add_common_flags(parser)
    parser.add_argument(
        "--guide",
        default="welcome-tour",
        choices=("welcome-tour", "first-dashboard", "connect-datasource"),
    )
    parser.add_argument("--headed", action="store_true", help="show the browser")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between clicks")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write a session report with the attendees' screenshots to DIR/index.html",
    )
    parser.add_argument(
        "--pathfinder",
        type=Path,
        metavar="DIST",
        help="add Rita, an attendee running this build of the real Pathfinder panel (its dist/ "
        "folder) in her own sandbox; needs Node.js and npm once",
    )


def run(args: argparse.Namespace) -> int:
    from bridge.demo import Demo
    from bridge.report.files import prepare_report_folder

    config = load(args, {})
    if args.report is not None:
        prepare_report_folder(args.report)
    demo = Demo(
        config,
        guide=args.guide,
        headless=not args.headed,
        pause=args.pause,
        report=args.report,
        pathfinder=args.pathfinder,
    )
    return run_async(demo.run)
