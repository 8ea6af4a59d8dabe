"""ActionCapture: the presenter's Grafana tab, driven by Playwright; every Show me / Do it seen.

capture.js runs in an isolated world of our own tab and keeps its reports there, bounded;
one owned task long-polls them with Runtime.evaluate. No frame's scripts, the page's own
included, can reach that world (Playwright's exposed bindings reach every frame, and a
cross-origin iframe flooded one with thousands of calls a second). The CDP session enables
no domain: Playwright forwards every event of a session to Python, and with Runtime enabled a
page logging in a loop streamed thousands of console events a second to the presenter. So
capture.js is put into each new document by the same task, as soon as Playwright (which tells
Python of main-frame navigations anyway) reports a navigation; a click in the first moments of
a full page load can be missed. A report is still
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

#: The isolated world capture.js runs in, and the function there that hands its reports over.
WORLD = "pathfinder-bridge-capture"
NEXT_REPORTS = "__pathfinderBridgeCaptureNext"
#: Reports waiting to be read in the page; more are dropped (our script sends a few per click).
MAX_QUEUED_REPORTS = 64
#: Milliseconds one long poll waits in the page for a report before it answers empty.
LONG_POLL_MS = 5000
#: Seconds any one CDP call may take beyond its own wait.
CDP_TIMEOUT = 10.0
#: Seconds between two attempts to enter capture's world while the tab changes documents
#: (doubling up to REENTER_DELAY_MAX while it keeps failing; a navigation ends the wait).
REENTER_DELAY = 0.05
REENTER_DELAY_MAX = 0.5
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


async def _first_of(*tasks: asyncio.Task[Any]) -> None:
    """Wait until one of `tasks` is done, then cancel the others and reap all (also when the
    wait itself is cancelled)."""
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class _Cursor:
    """How far capture has read: which document's reports, the last report number read, and
    how many reports that document has dropped so far."""

    document: str = ""
    after: int = 0
    dropped: int = 0


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
        self._reader: asyncio.Task[None] | None = None
        self._cdp: CDPSession | None = None
        self._frame_id = ""
        self._source = ""
        #: Set when the tab navigates: capture's world may be in a new document.
        self._navigated = asyncio.Event()
        #: Set when the tab closes: capture is over.
        self._closed = asyncio.Event()
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
        """A CDP session on `page` with no domain enabled (no event of it reaches Python), and
        the main frame capture.js goes into."""
        assert self.context is not None
        self._source = (
            f"window.__pathfinderBridgeContract = {self.contract.to_json()};\n"
            + JS.joinpath("capture.js").read_text(encoding="utf-8")
        )
        cdp = self._cdp = await self.context.new_cdp_session(page)
        async with asyncio.timeout(CDP_TIMEOUT):
            tree = await cdp.send("Page.getFrameTree")
        self._frame_id = str(tree["frameTree"]["frame"]["id"])
        page.on("framenavigated", self._on_navigated)
        page.on("close", lambda _: self._closed.set())

    def _on_navigated(self, frame: Frame) -> None:
        if frame.parent_frame is None:
            self._navigated.set()

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

    def _ignore(self, reason: str, what: str, count: int = 1) -> None:
        """Count ignored reports; say so at most once a minute for each reason."""
        self.ignored += count
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
        """capture.js into the tab's current document, then its reports as they come; again
        into the document after each navigation (or when this one is gone). Ends when the tab
        closes: capture is then over, and the presenter is told."""
        cursor = _Cursor()
        delay = REENTER_DELAY
        while not self._closed.is_set():
            self._navigated.clear()
            try:
                context_id = await self._enter_world()
                delay = REENTER_DELAY
                while not self._navigated.is_set():
                    batch = await self._next_batch(context_id, cursor)
                    if batch is None:
                        break
                    for payload in self._parse_batch(batch, cursor):
                        try:
                            await self._report(payload)
                        except Exception as exc:  # one bad report must not stop capture
                            logger.warning("[ActionCapture] A report failed: %r", exc)
            except (PlaywrightError, TimeoutError) as exc:
                # The document was replaced (or the tab is closing): enter the next one.
                logger.debug("[ActionCapture] Capture's world is gone: %s", str(exc)[:200])
                await self._pause(delay)
                delay = min(delay * 2, REENTER_DELAY_MAX)
        logger.warning("[ActionCapture] The presenter's tab closed: clicks are no longer captured")

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds` before entering capture's world again, less when the tab navigates
        (its next document is there to enter) or closes."""
        closed = asyncio.create_task(self._closed.wait())
        navigated = asyncio.create_task(self._navigated.wait())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await _first_of(closed, navigated)

    async def _next_batch(self, context_id: int, cursor: _Cursor) -> Any:
        """capture.js's reports after the cursor, waiting up to LONG_POLL_MS for one; None
        when the tab navigates first (the reports stay in the page until read)."""
        document = json.dumps(cursor.document)
        call = f"window.{NEXT_REPORTS}({document}, {cursor.after}, {LONG_POLL_MS})"
        poll = asyncio.create_task(self._evaluate(context_id, call, LONG_POLL_MS / 1000))
        navigated = asyncio.create_task(self._navigated.wait())
        await _first_of(poll, navigated)
        if poll.cancelled():
            return None
        return poll.result()

    async def _evaluate(self, context_id: int, expression: str, wait: float = 0.0) -> Any:
        """The JSON value of `expression` in capture's world; an error when it throws."""
        assert self._cdp is not None
        async with asyncio.timeout(wait + CDP_TIMEOUT):
            result = await self._cdp.send(
                "Runtime.evaluate",
                {
                    "contextId": context_id,
                    "expression": expression,
                    "awaitPromise": True,
                    "returnByValue": True,
                },
            )
        if "exceptionDetails" in result:
            raise PlaywrightError(str(result["exceptionDetails"].get("text", "an exception")))
        return result.get("result", {}).get("value")

    async def _enter_world(self) -> int:
        """The id of capture's world in the tab's current document, capture.js running in it
        (once per document: the script skips a second run)."""
        assert self._cdp is not None
        async with asyncio.timeout(CDP_TIMEOUT):
            world = await self._cdp.send(
                "Page.createIsolatedWorld", {"frameId": self._frame_id, "worldName": WORLD}
            )
        context_id = int(world["executionContextId"])
        await self._evaluate(context_id, self._source)
        return context_id

    def _parse_batch(self, text: Any, cursor: _Cursor) -> list[dict[str, Any]]:
        """The new reports of one batch from capture.js; the cursor moves past them (to the
        start of a new document's numbers when the batch comes from another document)."""
        batch: Any = None
        if isinstance(text, str) and len(text) <= 2 * MAX_QUEUED_REPORTS * MAX_REPORT_CHARS:
            with contextlib.suppress(ValueError):
                batch = json.loads(text)
        if not isinstance(batch, dict) or not isinstance(batch.get("reports"), list):
            self._ignore("malformed", "a malformed report")
            return []
        document = batch.get("document")
        if isinstance(document, str) and document != cursor.document:
            cursor.document, cursor.after, cursor.dropped = document[:100], 0, 0
        total = batch.get("dropped")
        if isinstance(total, int) and total > cursor.dropped:
            self._ignore("flood", "reports faster than they can be read", total - cursor.dropped)
            cursor.dropped = total
        reports: list[dict[str, Any]] = []
        for entry in batch["reports"][:MAX_QUEUED_REPORTS]:
            number, payload = entry if isinstance(entry, list) and len(entry) == 2 else (0, None)
            if not isinstance(number, int) or number <= cursor.after:
                continue
            cursor.after = number
            if isinstance(payload, dict) and len(json.dumps(payload)) <= MAX_REPORT_CHARS:
                reports.append(payload)
            else:
                self._ignore("malformed", "a malformed report")
        return reports

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
