"""`pathfinder-bridge sandbox`: serve the sandbox, the local app with Grafana's and
Pathfinder's DOM contract (never called Grafana in what users read)."""

from __future__ import annotations

import argparse
import asyncio

from bridge.commands.common import EXIT_OK, add_common_flags, run_async

NAME = "sandbox"
HELP = "serve the sandbox: a local app with Grafana's and Pathfinder's DOM contract"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve the sandbox (not Grafana: a local stand-in with the same DOM contract) "
        "for demos and tests."
    )
    add_common_flags(parser)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 picks one)")
    parser.add_argument(
        "--grafana-version",
        default="12.0.0",
        metavar="V",
        help="Grafana version whose selectors the sandbox renders",
    )
    parser.add_argument("--require-login", action="store_true", help="show a login page first")


def run(args: argparse.Namespace) -> int:
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

    return run_async(serve)
