"""Issue 9.6: forged capture. The capture binding is exposed to every frame of the presenter's
browser, so a cross-origin iframe (an embedded panel, an ad) could broadcast do_it and
navigation events; a script in the page itself could pass the binding any step it likes.

Mounted as the review did: the presenter agent (ActionCapture, real Chromium) on the real
sandbox with a guide open, and an iframe from another origin that calls the binding.
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
(async () => {
  const capture = window.__pathfinderBridgeCapture;
  const evil = { targetAction: "navigate", refTarget: "https://evil.example/phish" };
  await Promise.all([
    capture({ kind: "step", type: "do_it", stepId: "open-menu", action: evil }),
    capture({ kind: "step", type: "do_it", stepId: "forged", action: evil }),
    capture({ kind: "guide", url: "https://evil.example/guide" }),
  ]);
  window.forged = true;
})();
</script>"""


async def until(condition: Callable[[], object]) -> None:
    async with asyncio.timeout(10 * UNIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@pytest.fixture
def other_origin(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "forge.html").write_text(FORGERY)
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
    # Its binding calls have all been answered once this is set.
    await frame.wait_for_function("() => window.forged === true", polling=50, timeout=10_000 * UNIT)
    assert steps == []
    assert guides[-1] == guide and capture.guide_url == guide
    assert capture.ignored >= 3

    # The page's own script names a real step with a forged action: the step as the docs
    # panel has it is what goes out; a step the panel does not show goes nowhere.
    forged = "https://evil.example/phish"
    await page.evaluate(
        "(evil) => window.__pathfinderBridgeCapture({kind: 'step', type: 'do_it', "
        "stepId: 'open-menu', action: {targetAction: 'navigate', refTarget: evil}})",
        forged,
    )
    await page.evaluate(
        "(evil) => window.__pathfinderBridgeCapture({kind: 'step', type: 'do_it', "
        "stepId: 'forged', action: {targetAction: 'navigate', refTarget: evil}})",
        forged,
    )
    await page.evaluate(
        "() => window.__pathfinderBridgeCapture({kind: 'guide', url: 'https://evil.example/g'})"
    )
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
