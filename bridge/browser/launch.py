"""Launching Chromium for the agents: Debian's or a configured one, headed only with a display."""

from __future__ import annotations

import logging
import os
from importlib import resources
from typing import Literal

from playwright.async_api import (
    Browser,
    BrowserContext,
    Playwright,
    Request,
    Route,
    ViewportSize,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from bridge.browser.chromium import find_chromium
from bridge.browser.contract import PathfinderContract
from bridge.config import BrowserConfig
from bridge.errors import BridgeError
from bridge.grafana.login import GrafanaLogin, LoginKind, same_origin

logger = logging.getLogger("bridge.browser")
JS = resources.files("bridge.browser").joinpath("js")


class BrowserLaunchError(BridgeError):
    """Chromium could not be started."""


NO_SANDBOX = "--no-sandbox"


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def chromium_sandbox(args: tuple[str, ...] | list[str], *, as_root: bool) -> bool:
    """Whether Chromium keeps its sandbox (seccomp, namespaces) for this launch.

    Chromium cannot start sandboxed as root, so root alone turns it off; everyone else keeps
    it unless `browser.args` asks for --no-sandbox explicitly. (Playwright adds --no-sandbox
    itself unless told that the sandbox is wanted, so this decision is passed to it.)
    """
    return not as_root and NO_SANDBOX not in args


def wants_headless(config: BrowserConfig, forced: bool) -> bool:
    """--headless forces it; otherwise config, where 'auto' means headless without a display."""
    if forced:
        return True
    if config.headless == "auto":
        return not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    return config.headless == "true"


async def launch_chromium(
    playwright: Playwright,
    config: BrowserConfig,
    *,
    headless: bool,
    remote_debugging_port: int | None = None,
) -> Browser:
    executable = find_chromium(config)
    args = list(config.args)
    sandbox = chromium_sandbox(args, as_root=running_as_root())
    if remote_debugging_port is not None:
        # Loopback only: other tools on this machine may attach, nobody else.
        args += [
            f"--remote-debugging-port={remote_debugging_port}",
            "--remote-debugging-address=127.0.0.1",
        ]
    try:
        return await playwright.chromium.launch(
            executable_path=executable, headless=headless, args=args, chromium_sandbox=sandbox
        )
    except PlaywrightError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
        if sandbox and "sandbox" in str(exc).lower():
            raise BrowserLaunchError(
                f"cannot start Chromium with its sandbox ({first_line}): allow unprivileged user "
                "namespaces on this machine, or, knowing that page renderers then run without "
                'seccomp, add "--no-sandbox" to browser.args'
            ) from None
        raise BrowserLaunchError(
            f"cannot start Chromium ({executable or 'Playwright default'}): {first_line}. Install "
            "Debian's chromium (apt-get install chromium) or set browser.executable_path"
        ) from None


async def add_contract(context: BrowserContext, contract: PathfinderContract) -> None:
    """Make the Pathfinder contract (our own data file) visible to our page scripts."""
    await context.add_init_script(
        script=f"window.__pathfinderBridgeContract = {contract.to_json()};"
    )


async def add_script(context: BrowserContext, name: str) -> None:
    await context.add_init_script(script=JS.joinpath(name).read_text(encoding="utf-8"))


async def send_token(context: BrowserContext, login: GrafanaLogin, grafana_url: str) -> None:
    """Every request of the context to the Grafana origin carries the service-account token;
    requests to other origins (CDNs, the signaling server, anything a page loads) do not."""

    async def add_token(route: Route, request: Request) -> None:
        headers = {**await request.all_headers(), **login.headers_for(request.url, grafana_url, 0)}
        await route.continue_(headers=headers)

    await context.route(lambda url: same_origin(url, grafana_url), add_token)


VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


class AgentBrowser:
    """The Chromium an agent runs in: a shared one (owned by the caller) or its own,
    started here and stopped by `close()`. Either way the agent gets its own context."""

    def __init__(
        self, config: BrowserConfig, *, headless: bool, remote_debugging_port: int | None
    ) -> None:
        self.config = config
        self.headless = headless
        self.remote_debugging_port = remote_debugging_port
        self.browser: Browser | None = None  # set only when we own it
        self.context: BrowserContext | None = None
        self._playwright: Playwright | None = None

    async def new_context(
        self,
        shared: Browser | None = None,
        *,
        login: GrafanaLogin | None = None,
        grafana_url: str = "",
        service_workers: Literal["allow", "block"] = "allow",
    ) -> BrowserContext:
        browser = shared
        if browser is None:
            self._playwright = await async_playwright().start()
            browser = self.browser = await launch_chromium(
                self._playwright,
                self.config,
                headless=self.headless,
                remote_debugging_port=self.remote_debugging_port,
            )
        state = login.state if login is not None and login.kind is LoginKind.SAVED else None
        self.context = await browser.new_context(
            viewport=VIEWPORT,
            service_workers=service_workers,
            storage_state=state.for_grafana(grafana_url).to_playwright()  # type: ignore[arg-type]
            if state is not None
            else None,
        )
        if login is not None and login.kind is LoginKind.TOKEN:
            await send_token(self.context, login, grafana_url)
        return self.context

    async def close(self) -> None:
        if self.context is not None:
            await self.context.close()
            self.context = None
        if self.browser is not None:
            await self.browser.close()
            self.browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
