"""ActionCapture: the presenter's Grafana tab, driven by Playwright; every Show me / Do it seen.

capture.js (an init script, so it survives reloads and route changes) reports clicks through
an exposed binding; each report is parsed at this edge into a ShowMe or DoIt event, exactly
as a peer's message would be, and handed to `on_step`. Guide changes go to `on_guide`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from bridge.browser.contract import PathfinderContract, grafana_selectors, pathfinder_contract
from bridge.browser.grafana_tab import grafana_version, open_grafana, open_guide
from bridge.browser.launch import AgentBrowser, add_contract, add_script
from bridge.config import BrowserConfig
from bridge.errors import BridgeError, ProtocolError
from bridge.grafana.login import GrafanaLogin
from bridge.protocol.events import StepEvent, parse_event

logger = logging.getLogger("bridge.browser")


@dataclass(frozen=True)
class CapturedStep:
    event: StepEvent
    guide_url: str | None
    step_number: int
    route: str
    captured_at_ms: float  # epoch milliseconds of the click, from the page's clock


class ActionCapture:
    def __init__(
        self,
        config: BrowserConfig,
        grafana_url: str,
        *,
        on_step: Callable[[CapturedStep], None],
        on_guide: Callable[[str, int], None] | None = None,
        headless: bool = True,
        remote_debugging_port: int | None = None,
        contract: PathfinderContract | None = None,
        login: GrafanaLogin | None = None,
    ) -> None:
        self.config = config
        self.grafana_url = grafana_url.rstrip("/")
        self.contract = contract or pathfinder_contract()
        self.login = login
        self._on_step = on_step
        self._on_guide = on_guide or (lambda url, step: None)
        self._chromium = AgentBrowser(
            config, headless=headless, remote_debugging_port=remote_debugging_port
        )
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.route = ""
        self.guide_url = ""
        self.captured = 0
        self.rejected = 0

    async def start(self, *, browser: Browser | None = None) -> Page:
        """Open the presenter's Grafana (in `browser` when given, else a new Chromium)."""
        self.context = await self._chromium.new_context(
            browser, login=self.login, grafana_url=self.grafana_url
        )
        await self.context.expose_binding("__pathfinderBridgeCapture", self._report)
        await add_contract(self.context, self.contract)
        await add_script(self.context, "capture.js")
        self.page = await self.context.new_page()
        await open_grafana(self.page, self.grafana_url)
        return self.page

    async def sign_in(self, user: str, password: str) -> None:
        """Fill Grafana's login form when it is shown (selectors from the e2e table)."""
        assert self.page is not None
        table = grafana_selectors(await grafana_version(self.page, self.config))
        username = self.page.locator(table.css("pages.Login.username"))
        try:
            await username.wait_for(state="visible", timeout=3000)
        except Exception:
            return  # no login form: already signed in, or anonymous access
        await username.fill(user)
        await self.page.locator(table.css("pages.Login.password")).fill(password)
        await self.page.locator(table.css("pages.Login.submit")).click()
        try:
            await username.wait_for(state="detached", timeout=10_000)
        except Exception:
            raise BridgeError("signing in to Grafana failed: check --user and --password") from None
        logger.info("[ActionCapture] Signed in as %s", user)

    async def open_guide(self, guide_url: str) -> None:
        assert self.page is not None
        await open_guide(self.page, self.grafana_url, self.contract, guide_url)

    async def close(self) -> None:
        await self._chromium.close()
        self.context = None

    @property
    def browser(self) -> Browser | None:
        """The Chromium this agent started itself (None when it runs in a shared one)."""
        return self._chromium.browser

    def _report(self, source: Any, payload: Any) -> None:
        """Called from the page: parse, never trust."""
        if not isinstance(payload, dict):
            return
        kind = payload.get("kind")
        if kind == "route" and isinstance(payload.get("route"), str):
            self.route = payload["route"][:2000]
            logger.debug("[ActionCapture] Route %s", self.route)
        elif kind == "guide" and isinstance(payload.get("url"), str):
            self.guide_url = payload["url"][:2000]
            logger.info("[ActionCapture] Guide %s", self.guide_url)
            self._on_guide(self.guide_url, 0)
        elif kind == "step":
            self._step(payload)

    def _step(self, payload: dict[str, Any]) -> None:
        try:
            event = parse_event(
                {k: payload.get(k) for k in ("type", "stepId", "action", "coordinates")}
            )
        except ProtocolError as exc:
            self.rejected += 1
            logger.warning("[ActionCapture] Ignored a click on a step it cannot read: %s", exc)
            return
        assert isinstance(event, StepEvent)
        captured_at = payload.get("capturedAt")
        number = payload.get("stepNumber")
        self.captured += 1
        self._on_step(
            CapturedStep(
                event,
                payload.get("guideUrl") if isinstance(payload.get("guideUrl"), str) else None,
                number if isinstance(number, int) else 0,
                str(payload.get("route") or "")[:2000],
                float(captured_at) if isinstance(captured_at, int | float) else time.time() * 1000,
            )
        )
