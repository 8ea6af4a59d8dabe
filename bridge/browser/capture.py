"""ActionCapture: the presenter's Grafana tab, driven by Playwright; every Show me / Do it seen.

capture.js runs in an isolated world of our own tab (a CDP script on every new document, so
it survives reloads and route changes) and reports clicks through a CDP binding that exists
in that world only: no frame's scripts, the page's own included, can call it (Playwright's
exposed bindings reach every frame, and a cross-origin iframe flooded one with thousands of
calls a second). Reports are queued, bounded, and read by one owned task. A report is still
only a hint: it is heard while the tab is on Grafana's origin, and the step (its action,
target and value) and the guide are read again from that page's own docs panel. The step is
parsed at this edge into a ShowMe or DoIt event, exactly as a peer's message would be, and
handed to `on_step`. Guide changes go to `on_guide`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, CDPSession, Frame, Page
from playwright.async_api import Error as PlaywrightError

from bridge.browser.contract import PathfinderContract, grafana_selectors, pathfinder_contract
from bridge.browser.grafana_tab import grafana_version, open_grafana, open_guide, read_guide
from bridge.browser.guide import Guide, step_shown
from bridge.browser.launch import JS, AgentBrowser, add_contract
from bridge.config import BrowserConfig
from bridge.errors import BridgeError
from bridge.grafana.login import GrafanaLogin
from bridge.protocol.events import DoIt, ShowMe, StepEvent

logger = logging.getLogger("bridge.browser")

#: The isolated world capture.js runs in, and the binding that exists there only.
WORLD = "pathfinder-bridge-capture"
BINDING = "__pathfinderBridgeCapture"
#: Reports waiting to be read; more are dropped (our script sends a few per click).
MAX_QUEUED_REPORTS = 64
#: A report longer than this is not our script's.
MAX_REPORT_CHARS = 4096
#: Seconds between two log lines about reports ignored for one reason.
IGNORED_LOG_INTERVAL = 60.0


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
        #: Reports ignored: the tab off Grafana's origin, malformed, or too many at once.
        self.ignored = 0
        self._ignored_logged: dict[str, float] = {}
        # Reports are read back from the page one at a time, so steps keep their order.
        self._reports: asyncio.Queue[dict[str, Any]] = asyncio.Queue(MAX_QUEUED_REPORTS)
        self._reader: asyncio.Task[None] | None = None
        self._cdp: CDPSession | None = None
        #: The guide as the docs panel showed it at the previous read.
        self._last_read: Guide | None = None

    async def start(self, *, browser: Browser | None = None) -> Page:
        """Open the presenter's Grafana (in `browser` when given, else a new Chromium)."""
        self.context = await self._chromium.new_context(
            browser, login=self.login, grafana_url=self.grafana_url
        )
        await add_contract(self.context, self.contract)
        self.page = await self.context.new_page()
        await self._install(self.page)
        self._reader = asyncio.create_task(self._read_reports(), name="capture-reports")
        await open_grafana(self.page, self.grafana_url)
        return self.page

    async def _install(self, page: Page) -> None:
        """capture.js in an isolated world of `page`, on every new document, with a binding
        that only that world has."""
        assert self.context is not None
        source = f"window.__pathfinderBridgeContract = {self.contract.to_json()};\n" + JS.joinpath(
            "capture.js"
        ).read_text(encoding="utf-8")
        cdp = self._cdp = await self.context.new_cdp_session(page)
        cdp.on("Runtime.bindingCalled", self._binding_called)
        await cdp.send("Runtime.enable")
        await cdp.send("Runtime.addBinding", {"name": BINDING, "executionContextName": WORLD})
        await cdp.send("Page.enable")
        await cdp.send(
            "Page.addScriptToEvaluateOnNewDocument", {"source": source, "worldName": WORLD}
        )

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
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._cdp is not None:
            with contextlib.suppress(PlaywrightError):
                await self._cdp.detach()
            self._cdp = None
        await self._chromium.close()
        self.context = None

    @property
    def browser(self) -> Browser | None:
        """The Chromium this agent started itself (None when it runs in a shared one)."""
        return self._chromium.browser

    def _binding_called(self, event: dict[str, Any]) -> None:
        """A report from capture.js (the only script in its world): queued, or dropped when
        reports come faster than they are read."""
        if event.get("name") != BINDING:
            return
        text = event.get("payload")
        try:
            payload = (
                json.loads(text)
                if isinstance(text, str) and len(text) <= MAX_REPORT_CHARS
                else None
            )
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._ignore("malformed", "a malformed report")
            return
        try:
            self._reports.put_nowait(payload)
        except asyncio.QueueFull:
            self._ignore("flood", "reports faster than they can be read")

    def _ignore(self, reason: str, what: str) -> None:
        """Count an ignored report; say so at most once a minute for each reason."""
        self.ignored += 1
        now = time.monotonic()
        if now - self._ignored_logged.get(reason, -IGNORED_LOG_INTERVAL) >= IGNORED_LOG_INTERVAL:
            self._ignored_logged[reason] = now
            logger.warning("[ActionCapture] Ignored %s (%d so far)", what, self.ignored)

    def _on_grafana(self) -> Frame | None:
        """Our tab's main frame, when it is on Grafana's origin."""
        if self.page is None:
            return None
        frame = self.page.main_frame
        parts = urlsplit(frame.url)
        return frame if f"{parts.scheme}://{parts.netloc}" == self.origin else None

    async def _read_reports(self) -> None:
        while True:
            payload = await self._reports.get()
            try:
                await self._report(payload)
            except Exception as exc:  # one bad report must not stop capture
                logger.warning("[ActionCapture] A report failed: %r", exc)

    async def _report(self, payload: dict[str, Any]) -> None:
        """One report: heard while our tab is on Grafana, and never trusted beyond a hint."""
        frame = self._on_grafana()
        if frame is None:
            # Starting up (about:blank), or our own tab while it is off Grafana.
            self.ignored += 1
            logger.debug("[ActionCapture] Ignored a report while off Grafana")
            return
        kind = payload.get("kind")
        if kind == "route":
            parts = urlsplit(frame.url)
            self.route = (parts.path + (f"?{parts.query}" if parts.query else ""))[:2000]
            logger.debug("[ActionCapture] Route %s", self.route)
        elif kind in ("guide", "step"):
            # One reader: steps keep their order.
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
