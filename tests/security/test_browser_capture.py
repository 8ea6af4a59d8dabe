"""Issue 9.6: forged capture. The capture binding was exposed to every frame of the presenter's
browser, so a cross-origin iframe (an embedded panel, an ad) could broadcast do_it and
navigation events; a script in the page itself could pass the binding any step it likes.
Red-team finding 6: such an iframe calling it in a loop made 8,000 warnings in 10 s, took
0.7 cores and kept the presenter from stopping for 30 s.

Mounted as the reviews did: the presenter agent (ActionCapture, real Chromium) on the real
sandbox with a guide open, and an iframe from another origin that calls the binding.

A later review: Playwright forwards every event of a CDP session to Python, and capture's
session had Runtime and Page enabled, so Grafana's page (or a same-site iframe) logging in a
loop streamed ~3,800 console events a second to the presenter, and iframe churn ~1,600 frame
and context events a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bridge.browser.capture import ActionCapture, CapturedStep
from bridge.config import BrowserConfig
from bridge.protocol.events import TargetAction
from bridge.sandbox.server import SandboxServer
from tests.conftest import UNIT
from tests.servers import static_server

# The attacker's frame also shows a docs panel of its own, with a hostile step in it.
FORGERY = """<!doctype html>
<aside data-testid="docs-panel-container" data-guide-url="https://evil.example/guide">
  <div class="interactive-step" data-step-id="forged" data-targetaction="navigate"
    data-reftarget="https://evil.example/phish"></div></aside>
<script>
window.binding = typeof window.__pathfinderBridgeCapture;
(async () => {
  const capture = window.__pathfinderBridgeCapture;
  const evil = { targetAction: "navigate", refTarget: "https://evil.example/phish" };
  try {
    await Promise.all([
      capture({ kind: "step", type: "do_it", stepId: "open-menu", action: evil }),
      capture({ kind: "step", type: "do_it", stepId: "forged", action: evil }),
      capture({ kind: "guide", url: "https://evil.example/guide" }),
    ]);
  } catch (e) {}
  window.forged = true;
})();
</script>"""
# The page itself logs in a loop, with arguments, and churns iframes that log too.
CONSOLE_AND_FRAMES_FLOOD = """() => {
  const spam = () => {
    for (let i = 0; i < 200; i++) console.log("flood", i, { i, text: "x".repeat(64) });
    window.logged = (window.logged || 0) + 200;
    setTimeout(spam, 0);
  };
  const churn = () => {
    for (let i = 0; i < 5; i++) {
      const frame = document.createElement("iframe");
      frame.srcdoc = "<script>console.log('frame')</script>";
      document.body.append(frame);
      setTimeout(() => frame.remove(), 20);
    }
    window.frames_made = (window.frames_made || 0) + 5;
    setTimeout(churn, 5);
  };
  spam();
  churn();
}"""
# The review's flood: the binding called 200 times a turn, every turn.
FLOOD = """<!doctype html><script>
function spam() {
  for (let i = 0; i < 200; i++) {
    try { window.__pathfinderBridgeCapture({kind: "step", type: "do_it", stepId: "x"}); } catch (e) {}
  }
  window.calls = (window.calls || 0) + 200;
  setTimeout(spam, 0);
}
spam();
</script>"""


async def until(condition: Callable[[], object]) -> None:
    async with asyncio.timeout(10 * UNIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "forge.html").write_text(FORGERY)
    (tmp_path / "flood.html").write_text(FLOOD)
    with static_server(tmp_path) as origin:
        yield origin


@pytest.fixture
async def presenter() -> AsyncIterator[tuple[ActionCapture, list[CapturedStep], list[str]]]:
    steps: list[CapturedStep] = []
    guides: list[str] = []
    with SandboxServer() as site:
        capture = ActionCapture(
            BrowserConfig(),
            site.url,
            on_step=steps.append,
            on_guide=lambda url, number: guides.append(url),
        )
        try:
            page = await capture.start()
            await capture.open_guide(site.guide_url("welcome-tour"))
            await page.wait_for_selector('[data-step-id="open-menu"]')
            await until(lambda: capture.guide_url)
            yield capture, steps, guides
        finally:
            async with asyncio.timeout(30 * UNIT):
                await capture.close()


async def test_only_the_grafana_main_frame_is_heard_and_the_step_is_read_from_the_page(
    presenter: tuple[ActionCapture, list[CapturedStep], list[str]], other_origin: str
) -> None:
    capture, steps, guides = presenter
    page = capture.page
    assert page is not None
    guide = capture.guide_url
    assert guide.endswith("/guides/welcome-tour")

    # A cross-origin iframe calls the binding: nothing it says is broadcast.
    await page.evaluate(
        "(src) => { const f = document.createElement('iframe'); f.src = src; "
        "document.body.append(f); }",
        f"{other_origin}/forge.html",
    )
    await until(lambda: any(f.url.startswith(other_origin) for f in page.frames))
    frame = next(f for f in page.frames if f.url.startswith(other_origin))
    await frame.wait_for_function("() => window.forged === true", polling=50, timeout=10_000 * UNIT)
    # The binding exists in capture's own isolated world only: not in the iframe, nor in the
    # page's own scripts.
    assert await frame.evaluate("() => window.binding") == "undefined"
    assert await page.evaluate("() => typeof window.__pathfinderBridgeCapture") == "undefined"
    assert steps == []
    assert guides[-1] == guide and capture.guide_url == guide

    # Were capture's own script fooled into naming a real step with a forged action, the
    # step as the docs panel has it is what goes out; a step the panel does not show goes
    # nowhere.
    evil = {"targetAction": "navigate", "refTarget": "https://evil.example/phish"}
    for report in (
        {"kind": "step", "type": "do_it", "stepId": "open-menu", "action": evil},
        {"kind": "step", "type": "do_it", "stepId": "forged", "action": evil},
        {"kind": "guide", "url": "https://evil.example/g"},
    ):
        await capture._report(report)
    assert len(steps) == 1
    action = steps[0].event.action
    assert (action.targetAction, action.refTarget) == (
        TargetAction.BUTTON,
        "grafana:components.NavBar.Toggle.button",
    )
    assert capture.guide_url == guide

    # A real click is captured as before.
    await page.locator('[data-testid="interactive-show-me-open-menu"]').click()
    await until(lambda: len(steps) == 2)
    assert steps[1].event.TYPE == "show_me" and steps[1].event.stepId == "open-menu"
    # Route changes the page makes with its own history are heard in capture's world too.
    await page.evaluate("() => history.pushState({}, '', '/explore?left=1')")
    await until(lambda: capture.route == "/explore?left=1")


async def test_a_flood_from_another_frame_reaches_nothing_and_stopping_is_prompt(
    presenter: tuple[ActionCapture, list[CapturedStep], list[str]],
    other_origin: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    capture, steps, _ = presenter
    page = capture.page
    assert page is not None
    await page.evaluate(
        "(src) => { const f = document.createElement('iframe'); f.src = src; "
        "document.body.append(f); }",
        f"{other_origin}/flood.html",
    )
    await until(lambda: any(f.url.startswith(other_origin) for f in page.frames))
    frame = next(f for f in page.frames if f.url.startswith(other_origin))
    await frame.wait_for_function("() => window.calls > 20000", polling=50, timeout=30_000 * UNIT)
    # The calls reached nothing: no report, no log line, nothing queued.
    assert capture.ignored == 0 and steps == []
    assert not [
        r for r in caplog.records if r.name == "bridge.browser" and r.levelname == "WARNING"
    ]
    # A real click still gets through, and stopping does not wait on the flood.
    await page.locator('[data-testid="interactive-show-me-open-menu"]').click()
    await until(lambda: len(steps) == 1)
    async with asyncio.timeout(10 * UNIT):
        await capture.close()


async def test_the_page_logging_and_churning_iframes_streams_nothing_to_the_presenter(
    presenter: tuple[ActionCapture, list[CapturedStep], list[str]],
) -> None:
    capture, steps, _ = presenter
    page, cdp = capture.page, capture._cdp
    assert page is not None and cdp is not None
    events: list[str] = []
    cdp.on("event", lambda event: events.append(str(event.get("method"))))
    await page.evaluate(CONSOLE_AND_FRAMES_FLOOD)
    await page.wait_for_function(
        "() => window.logged > 20000 && window.frames_made > 200",
        polling=100,
        timeout=60_000 * UNIT,
    )
    # Not one of those console messages, contexts or frames reached Python over capture's
    # session (with Runtime and Page enabled there, this counted thousands).
    assert events == []
    # Capture still hears a real click during the flood, and nothing was dropped.
    await page.locator('[data-testid="interactive-show-me-open-menu"]').click()
    await until(lambda: len(steps) == 1)
    assert steps[0].event.stepId == "open-menu" and capture.ignored == 0
    # And it follows the tab into a new document: the reloaded page is captured too.
    await page.reload()
    await capture.open_guide(capture.guide_url)
    await page.locator('[data-testid="interactive-show-me-open-menu"]').click()
    await until(lambda: len(steps) == 2)
    assert events == []


async def test_capture_follows_the_tab_to_another_site_and_back(
    presenter: tuple[ActionCapture, list[CapturedStep], list[str]], tmp_path: Path
) -> None:
    """Chromium counts execution context ids anew in each renderer process: after the tab
    went to another site and came back (an SSO round trip), the new document's world had
    the old id, and capture skipped as many of its reports as the old document had sent."""
    capture, steps, _ = presenter
    page = capture.page
    assert page is not None
    show = page.locator('[data-testid="interactive-show-me-open-menu"]')
    home = capture.guide_url
    (tmp_path / "elsewhere.html").write_text("<!doctype html><p>Sign in elsewhere</p>")
    with static_server(tmp_path) as elsewhere:
        port = elsewhere.rsplit(":", 1)[1]
        for _ in range(3):
            for _ in range(3):
                expected = len(steps) + 1
                await show.click()
                await until(lambda expected=expected: len(steps) == expected)  # type: ignore[misc]
                await asyncio.sleep(0.6)  # past Pathfinder's 500 ms repeat rule
            # Another site (another renderer process), then back, as an SSO round trip goes.
            await page.goto(f"http://localhost:{port}/elsewhere.html")
            await page.goto(capture.origin + "/")
            await capture.open_guide(home)
    await show.click()
    await until(lambda: len(steps) == 10)
    assert capture.ignored == 0


async def test_a_closed_tab_ends_capture_and_says_so(
    presenter: tuple[ActionCapture, list[CapturedStep], list[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the tab gone, capture's reader used to retry every 50 ms for the rest of the
    session, and nobody was told that clicks were no longer captured."""
    capture, _, _ = presenter
    assert capture.page is not None and capture._reader is not None
    with caplog.at_level("WARNING", logger="bridge.browser"):
        await capture.page.close()
        async with asyncio.timeout(10 * UNIT):
            await asyncio.shield(capture._reader)
    assert "clicks are no longer captured" in caplog.text
