"""ActionReplay: an attendee's own Grafana, where the presenter's events are replayed.

Each event becomes a ReplayPlan (sans-I/O, where everything unsafe is refused, and where a
guide open in the attendee's docs panel limits events to its steps); this module only
carries it out: locate (waiting up to the action timeout), then draw the highlight
(replay.js) or act with trusted input (Playwright's mouse and keyboard). It reports what
happened and never raises for a failed step. The page never leaves its own origin: top-level
navigations elsewhere are aborted at request level, popups are closed, and the page is back
home before a result is reported. A page that stops answering is replaced by a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Locator, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from bridge.browser.confirm import (
    NOT_CONFIRMED,
    ConfirmPolicy,
    confirmation_reason,
    confirmed_by_plan,
    label_reason,
)
from bridge.browser.contract import (
    GrafanaSelectors,
    PathfinderContract,
    grafana_selectors,
    pathfinder_contract,
)
from bridge.browser.grafana_tab import (
    add_guide_reader,
    grafana_version,
    open_grafana,
    open_guide,
)
from bridge.browser.guide import Guide
from bridge.browser.launch import AgentBrowser, add_contract, add_script
from bridge.browser.locate import FastQuery, Target
from bridge.browser.origin_guard import OriginGuard, origin_of
from bridge.browser.plan import ReplayPlan, ReplayStep, StepKind, plan_replay
from bridge.config import BrowserConfig
from bridge.errors import BridgeError
from bridge.grafana.login import GrafanaLogin
from bridge.protocol.events import AttendeeMode, DoIt, StepEvent

logger = logging.getLogger("bridge.browser")

#: More matches than this and an action is refused: a guide targets one element.
MAX_MATCHES = 25
AIM_ATTEMPTS = 5
AIM_RETRY_DELAY = 0.05
#: Plans made again because the docs panel changed under one, before giving up.
GUIDE_ATTEMPTS = 3
#: A step that takes longer than this many action timeouts (plus a second) means the page
#: has stopped answering (a runaway selector, a busy renderer): it is closed and reopened.
OVERRUN_FACTOR = 2.0

#: Asks the attendee a yes/no question; True only for a yes.
Confirm = Callable[[str], Awaitable[bool]]


class StepFailed(Exception):
    """One replay step could not be done; the message is what the presenter is told, `note`
    what only the attendee sees (text read off its page)."""

    def __init__(self, message: str, note: str = "") -> None:
        super().__init__(message)
        self.note = note


class NeedsConfirmation(Exception):
    """The element a step would act on reads like a destructive action: ask first. The
    message quotes the page (the element's label): for the attendee's eyes only."""


class GuideChanged(Exception):
    """The docs panel changed since its guide was read: nothing was done; plan again."""


@dataclass(frozen=True)
class ShownGuide:
    """The guide the docs panel showed when last read, and the page's stamp of it."""

    guide: Guide | None
    stamp: str


@dataclass
class ReplayResult:
    """What a replay did. `detail` goes back to the presenter, so it says nothing read off
    the attendee's page beyond what the README lists; `note` (the label that made us ask,
    where a link leads) is shown on the attendee's own terminal only."""

    step_id: str
    ok: bool
    detail: str
    locate_ms: float = 0.0
    act_ms: float = 0.0
    finished_at_ms: float = field(default_factory=lambda: time.time() * 1000)
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{'ok' if self.ok else 'failed'}: {self.detail}{note}"


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
        confirm_policy: ConfirmPolicy = ConfirmPolicy.DESTRUCTIVE,
        confirm: Confirm | None = None,
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
        self.confirm_policy = confirm_policy
        #: None: nobody to ask, so whatever needs a yes is refused.
        self._confirm = confirm
        self._chromium = AgentBrowser(
            config, headless=headless, remote_debugging_port=remote_debugging_port
        )
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.selectors: GrafanaSelectors | None = None
        self.guide_url = ""
        #: The guide as last read; plans use it while the page's stamp still matches.
        self._shown: ShownGuide | None = None
        self.guard = OriginGuard(self.origin, self._go_home)
        self.reopened_pages = 0

    @property
    def overrun_seconds(self) -> float:
        return self.config.action_timeout * OVERRUN_FACTOR + 1.0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, *, browser: Browser | None = None) -> Page:
        self.context = await self._chromium.new_context(
            browser, login=self.login, grafana_url=self.grafana_url, service_workers="block"
        )
        await add_contract(self.context, self.contract)
        await add_guide_reader(self.context)
        await add_script(self.context, "replay.js")
        await self.guard.protect(self.context)
        self.page = await self._new_page()
        await open_grafana(self.page, self.grafana_url)
        version = await grafana_version(self.page, self.config)
        self.selectors = grafana_selectors(version)
        logger.info(
            "[ActionReplay] Grafana %s (selectors of %s)", version, self.selectors.grafana_version
        )
        return self.page

    async def close(self) -> None:
        await self.guard.close()
        await self._chromium.close()
        self.context = None

    @property
    def browser(self) -> Browser | None:
        """The Chromium this agent started itself (None when it runs in a shared one)."""
        return self._chromium.browser

    async def _new_page(self) -> Page:
        assert self.context is not None
        with self.guard.opening_page():
            page = await self.context.new_page()
        await self.guard.watch(page)
        return page

    async def open_guide(self, guide_url: str) -> None:
        """Open the presenter's guide in this Grafana's docs panel."""
        assert self.page is not None
        self.guide_url = guide_url
        self._shown = None
        await open_guide(self.page, self.grafana_url, self.contract, guide_url)
        await self._wait_for_guide()

    async def _wait_for_guide(self) -> None:
        """Until the docs panel shows the guide, only the dialect rule would limit events."""
        assert self.page is not None
        try:
            await self.page.wait_for_function(
                "(c) => window.__pathfinderBridgeReadGuide(c) !== null",
                arg=self.contract.data,
                polling=50,
                timeout=self.config.action_timeout * 1000,
            )
        except PlaywrightTimeout:
            logger.warning(
                "[ActionReplay] The docs panel shows no guide: events are limited by the selector "
                "dialect only"
            )

    async def _go_home(self) -> None:
        """This Grafana again, with the session's guide when one was opened."""
        assert self.page is not None
        self._shown = None
        if self.guide_url:
            await open_guide(self.page, self.grafana_url, self.contract, self.guide_url)
            await self._wait_for_guide()
        else:
            await open_grafana(self.page, self.grafana_url)

    async def _reopen(self) -> None:
        """A page that stopped answering: close it (its renderer with it), open a fresh one
        on the same origin with the same guide."""
        assert self.context is not None and self.page is not None
        stuck = self.page
        self.reopened_pages += 1
        with contextlib.suppress(PlaywrightError, TimeoutError):
            async with asyncio.timeout(self.overrun_seconds):
                await stuck.close(run_before_unload=False)
        self.page = await self._new_page()
        self._shown = None
        async with asyncio.timeout(self.overrun_seconds * 2):
            await self._go_home()

    # -- replay -------------------------------------------------------------------------------

    def plan(self, event: StepEvent, guide: Guide | None = None) -> ReplayPlan:
        assert self.selectors is not None, "call start() first"
        return plan_replay(event, self.mode, self.selectors, self.origin, guide)

    async def read_guide(self) -> Guide | None:
        """The guide this page's docs panel shows now (None: none)."""
        return (await self._read_shown()).guide

    async def _read_shown(self) -> ShownGuide:
        assert self.page is not None
        raw = await self.page.evaluate("() => window.__pathfinderBridgeReplay.guide()")
        if not isinstance(raw, dict) or not isinstance(raw.get("stamp"), str):
            raise PlaywrightError("the page's replay script is missing")
        self._shown = ShownGuide(Guide.from_page(raw.get("guide")), raw["stamp"])
        return self._shown

    @staticmethod
    def _checked_in_page(plan: ReplayPlan) -> bool:
        """Whether the plan's first step goes through an in-page call that checks the stamp."""
        first = plan.steps[0] if plan.ok and plan.steps else None
        return (
            first is not None
            and first.target is not None
            and first.target.fast_query is not None
            and first.kind is not StepKind.FILL
        )

    async def replay(self, event: StepEvent) -> ReplayResult:
        """Carry out one show_me or do_it; the result says what happened."""
        assert self.page is not None
        logger.info("[ActionReplay] Handling %s in %s mode", event.TYPE, self.mode.value)
        for attempt in range(GUIDE_ATTEMPTS):
            try:
                return await self._replay(event, read_again=attempt > 0)
            except GuideChanged:
                logger.info("[ActionReplay] The docs panel changed; planning %s again", event)
            except PlaywrightError as exc:  # the page navigated or crashed under us
                detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else "?"
                logger.warning("[ActionReplay] %s: the page did not answer: %s", event, detail)
                return ReplayResult(event.stepId, False, f"the page did not answer ({detail})")
        return ReplayResult(event.stepId, False, "the docs panel kept changing; nothing was done")

    async def _replay(self, event: StepEvent, *, read_again: bool) -> ReplayResult:
        assert self.page is not None
        try:
            async with asyncio.timeout(self.overrun_seconds):
                shown = self._shown
                fresh = shown is None or read_again
                if shown is None or read_again:
                    shown = await self._read_shown()
                plan = self.plan(event, shown.guide)
                if not fresh and not self._checked_in_page(plan):
                    # Nothing in the page will check this plan's guide: read it now.
                    shown = await self._read_shown()
                    plan = self.plan(event, shown.guide)
                first = plan.steps[0] if plan.steps else None
                if first is None or first.target is None or first.target.fast_query is None:
                    # The fast paths clear the previous highlight themselves.
                    await self.page.evaluate("() => window.__pathfinderBridgeReplay?.clear()")
        except TimeoutError:
            return await self._overran(event, "reading the guide")
        if not plan.ok:
            logger.warning("[ActionReplay] Refused %s: %s", event.stepId, plan.refused)
            return ReplayResult(event.stepId, False, f"refused: {plan.refused}")
        acting = self.mode is AttendeeMode.FOLLOW and isinstance(event, DoIt)
        since = self.guard.mark()
        # A yes covers what the question named: the steps whose own target or path reads
        # destructive. Every other step's element is still checked, and asked about alone.
        confirmed: frozenset[int] = frozenset()
        if acting and (reason := confirmation_reason(self.confirm_policy, plan)):
            steps = "; ".join(str(step) for step in plan.steps)
            if not await self._ask(f"The presenter's Do it would {steps}: {reason}."):
                return ReplayResult(event.stepId, False, NOT_CONFIRMED, note=reason)
            confirmed = confirmed_by_plan(self.confirm_policy, plan)
        locate_ms = act_ms = 0.0
        details = []
        failure = note = ""
        stamp: str | None = shown.stamp  # checked by the first step, before it does anything
        for index, step in enumerate(plan.steps):
            try:
                located, acted = await self._run_step(plan, index, index in confirmed, stamp)
                stamp = None
            except StepFailed as exc:
                logger.info("[ActionReplay] %s failed: %s %s", step, exc, exc.note)
                failure, note = f"{step}: {exc}", exc.note
                break
            except TimeoutError:
                return await self._overran(event, str(step))
            locate_ms += located
            act_ms += acted
            details.append(str(step))
        if acting:
            try:
                async with asyncio.timeout(self.overrun_seconds * 2):
                    undone, where = await self.guard.settle(since, self.config.action_timeout)
            except TimeoutError:
                return await self._overran(event, "returning to this Grafana")
            if undone and not failure:
                failure, note = undone, where
        if failure:
            return ReplayResult(event.stepId, False, failure, locate_ms, act_ms, note=note)
        return ReplayResult(event.stepId, True, "; ".join(details), locate_ms, act_ms)

    async def _overran(self, event: StepEvent, what: str) -> ReplayResult:
        limit = self.overrun_seconds
        logger.warning("[ActionReplay] %s took over %g s: reopening the page", what, limit)
        try:
            await self._reopen()
        except (PlaywrightError, TimeoutError) as exc:
            logger.warning("[ActionReplay] Reopening the page failed: %s", exc)
        return ReplayResult(
            event.stepId, False, f"{what} took over {limit:g} s; the page was closed and reopened"
        )

    async def _ask(self, question: str) -> bool:
        if self._confirm is None:
            logger.warning("[ActionReplay] Nobody to confirm: %s Not done.", question)
            return False
        return await self._confirm(question)

    async def _run_step(
        self, plan: ReplayPlan, index: int, confirmed: bool, stamp: str | None
    ) -> tuple[float, float]:
        """One step within the overrun limit. An element that reads destructive asks first
        (the attendee's thinking time is outside the limit), for this step alone: a yes to
        one step of a multistep is no yes to the next."""
        step = plan.steps[index]
        try:
            async with asyncio.timeout(self.overrun_seconds):
                return await self._run(step, confirmed=confirmed, stamp=stamp)
        except NeedsConfirmation as exc:
            where = f" (step {index + 1} of {len(plan.steps)})" if len(plan.steps) > 1 else ""
            if not await self._ask(f"The presenter's Do it would {step}{where}: {exc}."):
                raise StepFailed(NOT_CONFIRMED, note=str(exc)) from None
        async with asyncio.timeout(self.overrun_seconds):
            return await self._run(step, confirmed=True, stamp=None)

    async def _run(
        self, step: ReplayStep, *, confirmed: bool, stamp: str | None
    ) -> tuple[float, float]:
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
            return await self._run_fast(step, fast, confirmed=confirmed, stamp=stamp)
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
            x, y = await self._aim(locator, confirmed=confirmed)
            await self.page.mouse.click(x, y)
        elif step.kind is StepKind.HOVER:
            x, y = await self._aim(locator, allow_disabled=True, confirmed=True)
            await self.page.mouse.move(x, y)
        elif step.kind is StepKind.FILL:
            await self._fill(locator, step.value, confirmed=confirmed)
        done = time.perf_counter()
        return (located - started) * 1000, (done - located) * 1000

    async def _run_fast(
        self, step: ReplayStep, query: FastQuery, *, confirmed: bool, stamp: str | None
    ) -> tuple[float, float]:
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
                "([q, o, t, s]) => window.__pathfinderBridgeReplay.highlightSelector(q, o, t, s)",
                [query.to_json(), options, timeout_ms, stamp],
            )
            if found.get("stale"):
                raise GuideChanged
            if not found["ok"]:
                raise StepFailed(self._not_found(step.target, found.get("reason", "")))
            logger.info("[ActionReplay] Highlighted element: %s (%s)", step.target, found["drawn"])
            return (time.perf_counter() - started) * 1000, 0.0
        for attempt in range(AIM_ATTEMPTS):
            hit = await self.page.evaluate(
                "([q, t, s]) => window.__pathfinderBridgeReplay.aimSelector(q, t, s)",
                [query.to_json(), timeout_ms, stamp],
            )
            if hit.get("stale"):
                raise GuideChanged
            stamp = None
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
        hover = step.kind is StepKind.HOVER
        x, y = self._check_hit(hit, allow_disabled=hover, confirmed=confirmed or hover)
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

    async def _aim(
        self, locator: Locator, *, allow_disabled: bool = False, confirmed: bool
    ) -> tuple[float, float]:
        """The point a trusted click should hit, after checking nothing else would take it."""
        with contextlib.suppress(PlaywrightError):
            await locator.scroll_into_view_if_needed(timeout=self.config.action_timeout * 1000)
        # A re-mounted node or a closing popup can make the first look wrong: look again.
        for attempt in range(AIM_ATTEMPTS):
            hit = await locator.evaluate("el => window.__pathfinderBridgeReplay.hitTest(el)")
            if hit["ok"] or attempt == AIM_ATTEMPTS - 1:
                break
            await asyncio.sleep(AIM_RETRY_DELAY)
        return self._check_hit(hit, allow_disabled=allow_disabled, confirmed=confirmed)

    def _check_hit(
        self, hit: dict[str, Any], *, allow_disabled: bool, confirmed: bool
    ) -> tuple[float, float]:
        """Refuse a click that would land elsewhere, leave the origin, or destroy unasked."""
        if hit["stale"]:
            raise StepFailed("the target keeps being replaced; nothing was clicked")
        if hit["disabled"] and not allow_disabled:
            raise StepFailed("the target is disabled")
        for key, what in (("href", "links"), ("form", "submits a form")):
            url = hit.get(key)
            if isinstance(url, str) and url and origin_of(url) != self.origin:
                # Where it leads is the page's: the attendee sees it, the presenter does not.
                raise StepFailed(f"the target {what} off this Grafana", note=origin_of(url))
        if hit.get("newTab"):
            raise StepFailed("the target opens a new tab or window")
        if not hit["ok"]:
            raise StepFailed(f"the target is covered by {hit['hit']}")
        if not confirmed and (reason := label_reason(self.confirm_policy, hit.get("label", ""))):
            raise NeedsConfirmation(reason)
        return float(hit["x"]), float(hit["y"])

    async def _fill(self, locator: Locator, value: str, *, confirmed: bool) -> None:
        assert self.page is not None
        kind = await locator.evaluate("el => window.__pathfinderBridgeReplay.inputKind(el)")
        if kind == "none":
            raise StepFailed("the target is not a field")
        x, y = await self._aim(locator, confirmed=confirmed)
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
        if origin_of(self.page.url) != self.origin:
            raise StepFailed("navigation left this Grafana")
