"""`pathfinder-bridge sandbox`: serve the sandbox, the local app with Grafana's and
Pathfinder's DOM contract (never called Grafana in what users read)."""

from __future__ import annotations

import argparse
import asyncio
import secrets

from bridge.commands.common import EXIT_OK, add_common_flags, positive_seconds, run_async

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


def run(args: argparse.Namespace) -> int:
    from bridge.browser.contract import grafana_selectors
    from bridge.sandbox.server import SandboxServer, SandboxSettings, guide_list

    settings = SandboxSettings(
        args.host,
        args.port,
        args.grafana_version,
        args.require_login,
        session_lifetime=args.session_lifetime,
        # A fresh token per run, shown once, as Grafana shows a new service-account token.
        service_account_token=f"glsa_{secrets.token_urlsafe(24)}" if args.require_login else "",
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
            if settings.require_login:
                print(f"  Login:  {settings.user} / {settings.password}")
                print(f"  Token:  {settings.service_account_token}  (service account)")
            for guide in guide_list():
                print(f"  Guide:  {sandbox.guide_url(guide['id'])}  ({guide['title']})")
            print("Ready", flush=True)
            await asyncio.Event().wait()
        return EXIT_OK

    return run_async(serve)
