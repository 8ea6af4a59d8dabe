"""`pathfinder-bridge sandbox`: serve the sandbox, the local app with Grafana's and
Pathfinder's DOM contract (never called Grafana in what users read)."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
from pathlib import Path

from bridge.commands.common import (
    EXIT_OK,
    add_client_flags,
    add_common_flags,
    client_overrides,
    load,
    positive_seconds,
    run_async,
)

NAME = "sandbox"
HELP = "serve the sandbox: a local app with Grafana's and Pathfinder's DOM contract"


def add_pathfinder_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pathfinder",
        type=Path,
        metavar="DIST",
        help="run this build of the Pathfinder plugin (its dist/ folder) as the sandbox's "
        "docs panel instead of the imitation (or PATHFINDER_DIST); needs Node.js and npm once",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Serve the sandbox (not Grafana: a local stand-in with the same DOM contract) "
        "for demos and tests. With --pathfinder, the real Pathfinder panel runs in it, "
        "with Live Sessions pointed at --server."
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
    parser.add_argument(
        "--require-login",
        action="store_true",
        help="pages need a login (admin / admin) or the service-account token it prints",
    )
    parser.add_argument(
        "--session-lifetime",
        type=positive_seconds,
        default=30 * 24 * 3600,
        metavar="S",
        help="seconds a login lasts (default 30 days, as Grafana)",
    )
    add_pathfinder_flag(parser)
    add_client_flags(parser)


def run(args: argparse.Namespace) -> int:
    from bridge.browser.contract import grafana_selectors
    from bridge.sandbox.realpanel import RealPanel, dist_from
    from bridge.sandbox.server import SandboxServer, SandboxSettings, guide_list

    config = load(args, client_overrides(args))
    dist = dist_from(args.pathfinder, dict(os.environ))
    panel = None
    if dist is not None:
        print("Preparing the real Pathfinder panel (the first run builds its host script)...")
        panel = RealPanel.prepare(dist, config.client.server_url, config.client.key)
    settings = SandboxSettings(
        args.host,
        args.port,
        args.grafana_version,
        args.require_login,
        session_lifetime=args.session_lifetime,
        # A fresh token per run, shown once, as Grafana shows a new service-account token.
        service_account_token=f"glsa_{secrets.token_urlsafe(24)}" if args.require_login else "",
        real_panel=panel,
    )
    table = grafana_selectors(args.grafana_version)

    async def serve() -> int:
        with SandboxServer(settings) as sandbox:
            print(
                f"pathfinder-bridge sandbox (Grafana {args.grafana_version} DOM contract; "
                f"selectors of {table.grafana_version} from @grafana/e2e-selectors "
                f"{table.package_version})"
            )
            print(f"  URL:    {sandbox.url}")
            if panel is not None:
                print(f"  Panel:  Pathfinder {panel.build.version} from {panel.build.folder}")
                print(f"  Live Sessions: {config.client.server_url}")
            else:
                print("  Panel:  the sandbox's imitation (--pathfinder DIST runs the real one)")
            if settings.require_login:
                print(f"  Login:  {settings.user} / {settings.password}")
                print(f"  Token:  {settings.service_account_token}  (service account)")
            for guide in guide_list():
                print(f"  Guide:  {sandbox.guide_url(guide['id'])}  ({guide['title']})")
            print("Ready", flush=True)
            await asyncio.Event().wait()
        return EXIT_OK

    return run_async(serve)
