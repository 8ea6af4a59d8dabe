"""`pathfinder-bridge login`: sign in to Grafana in a browser window, any way it allows (SSO
included), and save the signed-in state for `--storage-state`.

The person is signed in once Grafana's /api/user answers 200 with their login, asked through
the browser's own cookies. Only what that Grafana needs is saved (its cookies and its
origin's storage, not the identity provider's), readable by the owner only (mode 0600).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.commands.common import (
    EXIT_OK,
    add_browser_flags,
    add_common_flags,
    load,
    positive_seconds,
    run_async,
)
from bridge.commands.terminal import say
from bridge.config import Config
from bridge.errors import BridgeError

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext

NAME = "login"
HELP = "sign in to Grafana in a browser window and save the login for --storage-state"

#: How often the browser's cookies are tried against /api/user while the person signs in.
POLL_INTERVAL = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Open Grafana in a browser window, wait until you have signed in (password, SSO, "
        "anything Grafana offers), then save the signed-in state to FILE (mode 0600) for "
        "`present` and `follow --storage-state FILE`."
    )
    add_common_flags(parser)
    parser.add_argument("--grafana", required=True, metavar="URL", help="the Grafana to sign in to")
    parser.add_argument("--save", required=True, type=Path, metavar="FILE", help="where to save")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=300.0,
        metavar="S",
        help="seconds to wait for the sign-in (default 300)",
    )
    add_browser_flags(parser, login=False)


def run(args: argparse.Namespace) -> int:
    config = load(args, {})
    return run_async(lambda: login(config, args))


async def login(config: Config, args: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    from bridge.browser.grafana_tab import open_grafana
    from bridge.browser.launch import VIEWPORT, launch_chromium, wants_headless
    from bridge.grafana.login import StorageState, origin_of
    from bridge.grafana.state_file import write_saved_login

    grafana = args.grafana.rstrip("/")
    if not origin_of(grafana)[0]:
        raise BridgeError(f"--grafana: {args.grafana!r} is not an http(s) URL")
    headless = wants_headless(config.browser, args.headless)
    if headless and args.remote_debugging_port is None:
        raise BridgeError(
            "login needs a browser window to sign in in, and there is no display: run it "
            "where one is (DISPLAY or WAYLAND_DISPLAY), or add --remote-debugging-port N and "
            "sign in through a tool that attaches to it"
        )
    async with async_playwright() as playwright:
        browser = await launch_chromium(
            playwright,
            config.browser,
            headless=headless,
            remote_debugging_port=args.remote_debugging_port,
        )
        try:
            context = await browser.new_context(viewport=VIEWPORT)
            page = await context.new_page()
            await open_grafana(page, grafana)
            if args.remote_debugging_port is not None:
                say(f"Browser: http://127.0.0.1:{args.remote_debugging_port} (remote debugging)")
            say(
                f"Sign in to {grafana} in the browser window, any way it offers; waiting up to "
                f"{args.timeout:g} s (Ctrl-C gives up)."
            )
            try:
                async with asyncio.timeout(args.timeout):
                    who = await signed_in(browser, context, grafana)
            except TimeoutError:
                raise BridgeError(
                    f"nobody signed in to {grafana} within {args.timeout:g} s; nothing saved"
                ) from None
            saved = StorageState.from_json(json.dumps(await context.storage_state()), "the browser")
        finally:
            await browser.close()
    state = saved.for_grafana(grafana)
    if not state.cookies:
        raise BridgeError(
            f"signed in as {who}, but {grafana} set no cookie to save (a login through a proxy "
            "in front of Grafana?); use a service-account token instead (--token or GRAFANA_TOKEN)"
        )
    write_saved_login(args.save, state)
    say(f"Signed in to {grafana} as {who}; login saved to {args.save} (mode 0600)")
    say(f"Use it: pathfinder-bridge present --grafana {grafana} --storage-state {args.save}")
    return EXIT_OK


async def signed_in(browser: Browser, context: BrowserContext, grafana: str) -> str:
    """Wait until the browser's cookies sign in to Grafana; the person's login."""
    from playwright.async_api import Error as PlaywrightError

    while True:
        if not browser.is_connected() or not context.pages:
            raise BridgeError("the browser window was closed before signing in; nothing saved")
        try:
            answer = await context.request.get(f"{grafana}/api/user", max_redirects=0, timeout=5000)
            data = await answer.json() if answer.status == 200 else None
        except (PlaywrightError, ValueError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("login"), str) and data["login"]:
            return "".join(c for c in data["login"][:200] if c.isprintable())
        await asyncio.sleep(POLL_INTERVAL)
