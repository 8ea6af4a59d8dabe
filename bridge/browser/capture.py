"""ActionCapture: the presenter's Grafana tab, driven by Playwright; every Show me / Do it seen.

capture.js (an init script, so it survives reloads and route changes) reports clicks through
an exposed binding. Every frame of the browser can call that binding, and any script in the
page can pass it anything, so a report is only a hint: it is heard only from the main frame
of the presenter's own tab while that frame is on Grafana's origin, and the step (its action,
target and value) and the guide are then read again from that page's own docs panel. The
step is parsed at this edge into a ShowMe or DoIt event, exactly as a peer's message would
be, and handed to `on_step`. Guide changes go to `on_guide`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Frame, Page
from playwright.async_api import Error as PlaywrightError

from bridge.browser.contract import PathfinderContract, grafana_selectors, pathfinder_contract
from bridge.browser.grafana_tab import grafana_version, open_grafana, open_guide, read_guide
from bridge.browser.guide import Guide, step_shown
from bridge.browser.launch import AgentBrowser, add_contract, add_script
from bridge.config import BrowserConfig
from bridge.errors import BridgeError
from bridge.grafana.login import GrafanaLogin
from bridge.protocol.events import DoIt, ShowMe, StepEvent

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
        parts = urlsplit(self.grafana_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
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
        #: Reports from anywhere but the main frame of our tab on Grafana's origin.
        self.ignored = 0
        # Reports are read back from the page one at a time, so steps keep their order.
        self._reading = asyncio.Lock()
        #: The guide as the docs panel showed it at the previous read.
        self._last_read: Guide | None = None

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

    def _heard_from(self, source: Any) -> Frame | None:
        """The frame a report came from, when it is our tab's main frame on Grafana's origin."""
        frame = source.get("frame") if isinstance(source, dict) else None
        if self.page is None or source.get("page") is not self.page:
            return None
        if frame is not self.page.main_frame:
            return None
        parts = urlsplit(frame.url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            return None
        return frame

    async def _report(self, source: Any, payload: Any) -> None:
        """Called from a page: heard only from our main frame, and never trusted beyond a hint."""
        frame = self._heard_from(source)
        if frame is None:
            self.ignored += 1
            where = source.get("frame") if isinstance(source, dict) else None
            url = where.url[:100] if isinstance(where, Frame) else "?"
            if self.page is None or where is self.page.main_frame:
                # Starting up (about:blank), or our own tab while it is off Grafana.
                logger.debug("[ActionCapture] Ignored a report while off Grafana (%s)", url)
            else:
                logger.warning("[ActionCapture] Ignored a report from another frame (%s)", url)
            return
        if not isinstance(payload, dict):
            return
        kind = payload.get("kind")
        if kind == "route":
            parts = urlsplit(frame.url)
            self.route = (parts.path + (f"?{parts.query}" if parts.query else ""))[:2000]
            logger.debug("[ActionCapture] Route %s", self.route)
        elif kind in ("guide", "step"):
            async with self._reading:
                try:
                    guide = Guide.from_page(await read_guide(frame, self.contract))
                except PlaywrightError as exc:
                    logger.warning("[ActionCapture] Could not read the docs panel: %s", exc)
                    return
                if kind == "guide":
                    self._guide(guide)
                else:
                    self._step(payload, guide)
                self._last_read = guide or self._last_read

    def _guide(self, guide: Guide | None) -> None:
        if guide is None or guide.url == self.guide_url:
            return
        self.guide_url = guide.url
        logger.info("[ActionCapture] Guide %s", self.guide_url)
        self._on_guide(self.guide_url, 0)

    def _step(self, payload: dict[str, Any], guide: Guide | None) -> None:
        """The clicked step as the page's own docs panel has it; the report names it only."""
        step_id = payload.get("stepId")
        kind = ShowMe if payload.get("type") == "show_me" else DoIt
        step = step_shown(step_id, guide, self._last_read) if isinstance(step_id, str) else None
        if step is None:
            self.rejected += 1
            logger.warning(
                "[ActionCapture] Ignored a click on a step the docs panel does not show: %r",
                str(step_id)[:80],
            )
            return
        assert guide is not None
        x, y = payload.get("x"), payload.get("y")
        coordinates = (
            (float(x), float(y))
            if isinstance(x, int | float) and isinstance(y, int | float)
            else None
        )
        event = kind(stepId=step.step_id, action=step.action, coordinates=coordinates)
        captured_at = payload.get("capturedAt")
        self.captured += 1
        self._on_step(
            CapturedStep(
                event,
                guide.url,
                step.number,
                self.route,
                float(captured_at) if isinstance(captured_at, int | float) else time.time() * 1000,
            )
        )
