"""ActionReplay: an attendee's own Grafana, where the presenter's events are replayed.

Each event becomes a ReplayPlan (sans-I/O, where everything unsafe is refused); this module
only carries it out: locate with Playwright (waiting up to the action timeout), then draw the
highlight (replay.js) or act with trusted input (Playwright's mouse and keyboard). It reports
what happened, never raises for a failed step, and keeps the page on its own origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bridge.browser.contract import (
    GrafanaSelectors,
    PathfinderContract,
    grafana_selectors,
    pathfinder_contract,
)
from bridge.browser.grafana_tab import grafana_version, open_grafana, open_guide
from bridge.browser.launch import AgentBrowser, add_contract, add_script
from bridge.browser.locate import FastQuery, Target
from bridge.browser.plan import ReplayPlan, ReplayStep, StepKind, plan_replay
from bridge.config import BrowserConfig
from bridge.errors import BridgeError
from bridge.grafana.login import GrafanaLogin
from bridge.protocol.events import AttendeeMode, StepEvent

logger = logging.getLogger("bridge.browser")

#: More matches than this and an action is refused: a guide targets one element.
MAX_MATCHES = 25
AIM_ATTEMPTS = 5
AIM_RETRY_DELAY = 0.05


class StepFailed(Exception):
    """One replay step could not be done; the message is what the presenter is told."""


@dataclass
class ReplayResult:
    step_id: str
    ok: bool
    detail: str
    locate_ms: float = 0.0
    act_ms: float = 0.0
    finished_at_ms: float = field(default_factory=lambda: time.time() * 1000)

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'failed'}: {self.detail}"


class ActionReplay:
    def __init__(
        self,
        config: BrowserConfig,
        grafana_url: str,
        *,
        mode: AttendeeMode = AttendeeMode.GUIDED,
        headless: bool = True,
        remote_debugging_port: int | None = None,
        contract: PathfinderContract | None = None,
        login: GrafanaLogin | None = None,
    ) -> None:
        self.config = config
        parts = urlsplit(grafana_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BridgeError(f"--grafana: {grafana_url!r} is not an http(s) URL")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.grafana_url = grafana_url.rstrip("/")
        self.mode = mode
        self.contract = contract or pathfinder_contract()
        self.login = login
        self._chromium = AgentBrowser(
            config, headless=headless, remote_debugging_port=remote_debugging_port
        )
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.selectors: GrafanaSelectors | None = None
        self.off_origin_blocked = 0
        self._pending_return = False

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, *, browser: Browser | None = None) -> Page:
        self.context = await self._chromium.new_context(
            browser, login=self.login, grafana_url=self.grafana_url
        )
        await add_contract(self.context, self.contract)
        await add_script(self.context, "replay.js")
        self.page = await self.context.new_page()
        self.page.on("framenavigated", self._guard_origin)
        await open_grafana(self.page, self.grafana_url)
        version = await grafana_version(self.page, self.config)
        self.selectors = grafana_selectors(version)
        logger.info(
            "[ActionReplay] Grafana %s (selectors of %s)", version, self.selectors.grafana_version
        )
        return self.page

    async def close(self) -> None:
        await self._chromium.close()
        self.context = None

    @property
    def browser(self) -> Browser | None:
        """The Chromium this agent started itself (None when it runs in a shared one)."""
        return self._chromium.browser

    def _guard_origin(self, frame: Any) -> None:
        """Whatever happens, this page stays on the attendee's own Grafana."""
        if self.page is None or frame != self.page.main_frame:
            return
        url = frame.url
        parts = urlsplit(url)
        if url.startswith("about:") or f"{parts.scheme}://{parts.netloc}" == self.origin:
            return
        self.off_origin_blocked += 1
        logger.warning("[ActionReplay] The page left this Grafana (%s); going back", url[:100])
        self._pending_return = True

    async def open_guide(self, guide_url: str) -> None:
        """Open the presenter's guide in this Grafana's docs panel."""
        assert self.page is not None
        await open_guide(self.page, self.grafana_url, self.contract, guide_url)

    # -- replay ---------------------------------------------------------------------

    def plan(self, event: StepEvent) -> ReplayPlan:
        assert self.selectors is not None, "call start() first"
        return plan_replay(event, self.mode, self.selectors, self.origin)

    async def replay(self, event: StepEvent) -> ReplayResult:
        """Carry out one show_me or do_it; the result says what happened."""
        assert self.page is not None
        logger.info("[ActionReplay] Handling %s in %s mode", event.TYPE, self.mode.value)
        plan = self.plan(event)
        first = plan.steps[0] if plan.steps else None
        if (
            first is None
            or first.target is None
            or first.target.fast_query is None
            or (first.kind is StepKind.FILL)
        ):
            # The fast paths clear the previous highlight themselves; the others do it here.
            await self.page.evaluate("() => window.__pathfinderBridgeReplay?.clear()")
        if not plan.ok:
            logger.warning("[ActionReplay] Refused %s: %s", event.stepId, plan.refused)
            return ReplayResult(event.stepId, False, f"refused: {plan.refused}")
        locate_ms = act_ms = 0.0
        details = []
        for step in plan.steps:
            try:
                located, acted = await self._run(step)
            except StepFailed as exc:
                logger.info("[ActionReplay] %s failed: %s", step, exc)
                return ReplayResult(event.stepId, False, f"{step}: {exc}", locate_ms, act_ms)
            locate_ms += located
            act_ms += acted
            details.append(str(step))
        await self._return_if_left()
        return ReplayResult(event.stepId, True, "; ".join(details), locate_ms, act_ms)

    async def _return_if_left(self) -> None:
        if self._pending_return and self.page is not None:
            self._pending_return = False
            await self.page.goto(self.grafana_url, wait_until="domcontentloaded")

    async def _run(self, step: ReplayStep) -> tuple[float, float]:
        assert self.page is not None
        if step.kind is StepKind.NOOP:
            return 0.0, 0.0
        if step.kind is StepKind.NAVIGATE:
            started = time.perf_counter()
            await self._navigate(step.value)
            return 0.0, (time.perf_counter() - started) * 1000
        assert step.target is not None
        fast = step.target.fast_query
        if fast is not None and step.kind is not StepKind.FILL:
            return await self._run_fast(step, fast)
        started = time.perf_counter()
        locator = await self._locate(step.target, acting=step.kind is not StepKind.HIGHLIGHT)
        located = time.perf_counter()
        if step.kind is StepKind.HIGHLIGHT:
            # One handle: the overlay is drawn without resolving the selector a second time.
            handle = await locator.element_handle(timeout=self.config.action_timeout * 1000)
            drawn = await handle.evaluate(
                "(el, o) => window.__pathfinderBridgeReplay.highlight(el, o)",
                {
                    "comment": step.comment,
                    "action": "highlight",
                    "reftarget": step.target.reftarget,
                },
            )
            await handle.dispose()
            logger.info("[ActionReplay] Highlighted element: %s (%s)", step.target, drawn)
        elif step.kind is StepKind.CLICK:
            x, y = await self._aim(locator)
            await self.page.mouse.click(x, y)
        elif step.kind is StepKind.HOVER:
            x, y = await self._aim(locator, allow_disabled=True)
            await self.page.mouse.move(x, y)
        elif step.kind is StepKind.FILL:
            await self._fill(locator, step.value)
        done = time.perf_counter()
        return (located - started) * 1000, (done - located) * 1000

    async def _run_fast(self, step: ReplayStep, query: FastQuery) -> tuple[float, float]:
        """Plain CSS: one in-page call finds the element and draws, or aims for trusted input."""
        assert self.page is not None and step.target is not None
        timeout_ms = self.config.action_timeout * 1000
        started = time.perf_counter()
        if step.kind is StepKind.HIGHLIGHT:
            options = {
                "comment": step.comment,
                "action": "highlight",
                "reftarget": step.target.reftarget,
            }
            found = await self.page.evaluate(
                "([q, o, t]) => window.__pathfinderBridgeReplay.highlightSelector(q, o, t)",
                [query.to_json(), options, timeout_ms],
            )
            if not found["ok"]:
                raise StepFailed(self._not_found(step.target, found.get("reason", "")))
            logger.info("[ActionReplay] Highlighted element: %s (%s)", step.target, found["drawn"])
            return (time.perf_counter() - started) * 1000, 0.0
        for attempt in range(AIM_ATTEMPTS):
            hit = await self.page.evaluate(
                "([q, t]) => window.__pathfinderBridgeReplay.aimSelector(q, t)",
                [query.to_json(), timeout_ms],
            )
            if not hit.get("found"):
                raise StepFailed(self._not_found(step.target, hit.get("reason", "")))
            if hit["count"] > MAX_MATCHES:
                raise StepFailed(
                    f"{hit['count']} elements match {step.target}; "
                    "refusing to act on an ambiguous target"
                )
            if hit["ok"] or attempt == AIM_ATTEMPTS - 1:
                break
            await asyncio.sleep(AIM_RETRY_DELAY)
        x, y = self._check_hit(hit, allow_disabled=step.kind is StepKind.HOVER)
        located = time.perf_counter()
        if step.kind is StepKind.CLICK:
            await self.page.mouse.click(x, y)
        else:
            await self.page.mouse.move(x, y)
        return (located - started) * 1000, (time.perf_counter() - located) * 1000

    def _not_found(self, target: Target, reason: str) -> str:
        if reason == "bad selector":
            return f"bad selector {target}"
        return f"element not found within {self.config.action_timeout:g} s: {target}"

    async def _locate(self, target: Target, *, acting: bool) -> Locator:
        assert self.page is not None
        combined = self.page.locator(target.candidates[0])
        for candidate in target.candidates[1:]:
            combined = combined.or_(self.page.locator(candidate))
        timeout = self.config.action_timeout * 1000
        try:
            await combined.first.wait_for(state="visible", timeout=timeout)
        except PlaywrightTimeout:
            raise StepFailed(
                f"element not found within {self.config.action_timeout:g} s: {target}"
            ) from None
        except PlaywrightError as exc:
            raise StepFailed(f"bad selector {target}: {str(exc).splitlines()[0][:120]}") from None
        for candidate in target.candidates:
            locator = self.page.locator(candidate)
            count = await locator.count()
            if count == 0:
                continue
            if acting and count > MAX_MATCHES:
                raise StepFailed(
                    f"{count} elements match {target}; refusing to act on an ambiguous target"
                )
            return locator.first
        raise StepFailed(f"element disappeared: {target}")

    async def _aim(self, locator: Locator, *, allow_disabled: bool = False) -> tuple[float, float]:
        """The point a trusted click should hit, after checking nothing else would take it."""
        with contextlib.suppress(PlaywrightError):
            await locator.scroll_into_view_if_needed(timeout=self.config.action_timeout * 1000)
        # A re-mounted node or a closing popup can make the first look wrong: look again.
        for attempt in range(AIM_ATTEMPTS):
            hit = await locator.evaluate("el => window.__pathfinderBridgeReplay.hitTest(el)")
            if hit["ok"] or attempt == AIM_ATTEMPTS - 1:
                break
            await asyncio.sleep(AIM_RETRY_DELAY)
        return self._check_hit(hit, allow_disabled=allow_disabled)

    def _check_hit(self, hit: dict[str, Any], *, allow_disabled: bool) -> tuple[float, float]:
        if hit["stale"]:
            raise StepFailed("the target keeps being replaced; nothing was clicked")
        if hit["disabled"] and not allow_disabled:
            raise StepFailed("the target is disabled")
        href = hit.get("href")
        if href:
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != self.origin:
                raise StepFailed(
                    f"the target links off this Grafana ({parts.scheme}://{parts.netloc})"
                )
        if not hit["ok"]:
            raise StepFailed(f"the target is covered by {hit['hit']}")
        return float(hit["x"]), float(hit["y"])

    async def _fill(self, locator: Locator, value: str) -> None:
        assert self.page is not None
        kind = await locator.evaluate("el => window.__pathfinderBridgeReplay.inputKind(el)")
        if kind == "none":
            raise StepFailed("the target is not a field")
        x, y = await self._aim(locator)
        await self.page.mouse.click(x, y)  # focuses plain inputs and Monaco-like editors alike
        await self.page.keyboard.press("ControlOrMeta+A")
        await self.page.keyboard.press("Backspace")
        if value:
            await self.page.keyboard.insert_text(value)
        # Controlled inputs may re-mount on every keystroke: read back through a fresh query.
        actual = await locator.evaluate("el => window.__pathfinderBridgeReplay.readValue(el)")
        if actual != value:
            raise StepFailed("the field did not keep the value")

    async def _navigate(self, path: str) -> None:
        """In-app navigation, as a router link does; the path was checked by the plan."""
        assert self.page is not None
        await self.page.evaluate(
            "(path) => window.__pathfinderBridgeReplay.navigate(path)",
            path,
        )
        current = urlsplit(self.page.url)
        if f"{current.scheme}://{current.netloc}" != self.origin:
            raise StepFailed("navigation left this Grafana")
