"""OriginGuard: an attendee's page never leaves its own Grafana origin.

- Every top-level navigation of the watched page, and each redirect hop of one, is paused at
  request level through the page's own CDP Fetch session (document requests only, so
  Grafana's other traffic never waits on Python); one bound for another origin is aborted
  before it leaves. An aborted navigation leaves the current page as it was.
- Playwright routes nothing but requests to other origins to Python: there, a top-level
  navigation of any other page (a popup's first request comes before the popup can be
  watched) is aborted too. Popups are closed.
- A page that still ends up elsewhere (a navigation without a request, such as about:blank)
  is brought home; `settle()` makes sure it is home before a result is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, CDPSession, Frame, Page, Request, Route
from playwright.async_api import Error as PlaywrightError

logger = logging.getLogger("bridge.browser")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class OriginGuard:
    def __init__(self, origin: str, go_home: Callable[[], Awaitable[None]]) -> None:
        self.origin = origin
        self._go_home = go_home
        #: Every top-level navigation to another origin that was aborted, and popups closed.
        self.blocked: list[str] = []
        self.closed_popups = 0
        self.page: Page | None = None
        self._main_frame_id = ""
        self._cdp: CDPSession | None = None
        self._left_for: str | None = None
        #: Main-frame commits, to tell when a navigation the page started has settled.
        self.commits = 0
        self._changed = asyncio.Event()
        self._opening = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the whole context ----------------------------------------------------------------------

    async def protect(self, context: BrowserContext) -> None:
        """Route other origins' requests to Python and close every page but the watched one."""
        elsewhere = re.compile("^(?!" + re.escape(self.origin) + "(?:[/?#]|$))")
        await context.route(elsewhere, self._on_request_elsewhere)
        context.on("page", self._on_new_page)

    @contextlib.contextmanager
    def opening_page(self) -> Iterator[None]:
        """While our own page is being opened: it is not a popup."""
        self._opening = True
        try:
            yield
        finally:
            self._opening = False

    async def _on_request_elsewhere(self, route: Route, request: Request) -> None:
        if request.is_navigation_request():
            try:
                top_level = request.frame.parent_frame is None
            except PlaywrightError:
                top_level = True  # a popup's first navigation comes before its frame
            if top_level:
                self._blocked(request.url)
                with contextlib.suppress(PlaywrightError):
                    await route.abort("aborted")
                return
        with contextlib.suppress(PlaywrightError):
            await route.continue_()

    def _on_new_page(self, page: Page) -> None:
        """Popups (target=_blank links, window.open) are closed: the attendee has one page."""
        if self._opening or page is self.page:
            return
        self.closed_popups += 1
        logger.warning("[ActionReplay] Closed a popup (%s)", page.url[:100])
        self._own(self._close(page))

    @staticmethod
    async def _close(page: Page) -> None:
        with contextlib.suppress(PlaywrightError):
            await page.close(run_before_unload=False)

    # -- the watched page -----------------------------------------------------------------------

    async def watch(self, page: Page) -> None:
        """Check every document request of `page` (and every redirect hop) before it leaves."""
        self.page = page
        self._left_for = None
        cdp = self._cdp = await page.context.new_cdp_session(page)
        tree = await cdp.send("Page.getFrameTree")
        self._main_frame_id = str(tree["frameTree"]["frame"]["id"])
        cdp.on("Fetch.requestPaused", self._on_document_request)
        await cdp.send(
            "Fetch.enable",
            {
                "patterns": [
                    {"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}
                ]
            },
        )
        page.on("framenavigated", self._on_navigated)

    def _on_document_request(self, event: dict[str, Any]) -> None:
        self._own(self._decide(event))

    async def _decide(self, event: dict[str, Any]) -> None:
        cdp = self._cdp
        if cdp is None:
            return
        request_id = event.get("requestId")
        url = str(event.get("request", {}).get("url", ""))
        leaving = event.get("frameId") == self._main_frame_id and origin_of(url) != self.origin
        with contextlib.suppress(PlaywrightError):
            if leaving:
                self._blocked(url)
                await cdp.send(
                    "Fetch.failRequest", {"requestId": request_id, "errorReason": "Aborted"}
                )
            else:
                await cdp.send("Fetch.continueRequest", {"requestId": request_id})

    def _blocked(self, url: str) -> None:
        self.blocked.append(url)
        self._changed.set()
        logger.warning("[ActionReplay] Blocked a navigation off this Grafana: %s", url[:100])

    def _on_navigated(self, frame: Frame) -> None:
        """The watchdog: a main frame that committed elsewhere anyway is brought home."""
        if self.page is None or frame != self.page.main_frame:
            return
        self.commits += 1
        self._changed.set()
        if origin_of(frame.url) == self.origin or self._left_for is not None:
            return
        logger.warning(
            "[ActionReplay] The page left this Grafana (%s); going back", frame.url[:100]
        )
        self._left_for = frame.url
        self._own(self._return())

    async def _return(self) -> None:
        try:
            await self._go_home()
        except PlaywrightError as exc:
            logger.warning("[ActionReplay] Could not return to this Grafana: %s", exc)

    # -- results ----------------------------------------------------------------------------------

    def mark(self) -> tuple[int, int]:
        """Where blocking and commits stand now; `settle()` looks at what came after."""
        return len(self.blocked), self.commits

    async def settle(self, since: tuple[int, int], limit: float) -> tuple[str, str]:
        """After acting: wait for the consequences the page has started (a navigation ends
        committed or blocked, within `limit` seconds), finish closing popups and coming
        home. Returns what had to be stopped or undone ('' when nothing), for the result,
        and where the page was going (the page's own data: for the attendee's eyes)."""
        page = self.page
        started: list[str] = []
        if page is not None:
            with contextlib.suppress(PlaywrightError):
                started = await page.evaluate(
                    "() => new Promise((done) => setTimeout("
                    "() => done(window.__pathfinderBridgeReplay?.takeNavigations() ?? []), 0))"
                )
        if started:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit):
                    while (len(self.blocked), self.commits) == since:
                        self._changed.clear()
                        await self._changed.wait()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        left, self._left_for = self._left_for, None
        if page is not None and left is None and origin_of(page.url) != self.origin:
            left = page.url  # missed by the watchdog: go home now
            await self._return()
        if left is not None:
            return "the page left this Grafana and was brought back", origin_of(left)
        if len(self.blocked) > since[0]:
            return "blocked a navigation off this Grafana", origin_of(self.blocked[since[0]])
        return "", ""

    def _own(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
