"""Capture parity: for every step of the sandbox guides, the event our capture (capture.js)
reports for a click equals the one the real plugin broadcasts for the same click.

One page runs the real panel as a live-session presenter and our capture beside it: capture.js
names the clicked step, and the step is read back from the page's docs panel as ActionCapture
does (js/guide_steps.js, bridge/browser/guide.py); the real plugin's broadcasts are recorded
by our attendee (`follow --no-browser --json`).

Differences on purpose (asserted, not hidden): the original captures only buttons whose text
or aria-label contains "show me" / "do it", so it never broadcasts "Go there" (navigate),
"Run N steps" (multistep) or a guided block's button; ours captures by the step's buttons, so
every step kind reaches attendees. A guided block has no action, so neither side sends it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from playwright.sync_api import Browser, Locator

from bridge.browser.contract import pathfinder_contract
from bridge.browser.grafana_tab import GUIDE_STEPS
from bridge.browser.guide import Guide, step_shown
from bridge.browser.launch import JS
from bridge.protocol.events import DoIt, ShowMe
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.walk import step_buttons
from tests.conftest import UNIT
from tests.realpanel.panel import (
    GUIDE_WALK,
    PANEL,
    completed,
    doable,
    guide,
    new_page,
    open_guide,
    start_live_session,
)
from tests.servers import CliProcess


class CapturePage:
    """A page with our capture script: capture.js names each clicked step, and the step is read
    back from the page's docs panel, as ActionCapture does."""

    def __init__(self, browser: Browser) -> None:
        self.hints: list[dict[str, Any]] = []
        self.last_read: Guide | None = None
        self.page = new_page(browser)
        self.page.context.expose_binding(
            "__pathfinderBridgeCapture",
            lambda source, text: self._hint(json.loads(text)),
        )
        self.page.context.add_init_script(
            script=f"window.__pathfinderBridgeContract = {pathfinder_contract().to_json()};"
        )
        self.page.context.add_init_script(path=JS / "capture.js")

    def _hint(self, payload: dict[str, Any]) -> None:
        """capture.js reports as it does to ActionCapture's binding: one JSON string."""
        if payload.get("kind") == "step":
            self.hints.append(payload)

    def click(self, button: Locator) -> dict[str, Any]:
        """Click a step's button; the event our capture makes of it (what ActionCapture
        broadcasts): the step the hint names, as the docs panel shows it."""
        before = len(self.hints)
        button.click()
        deadline = time.monotonic() + 5 * UNIT
        while len(self.hints) == before and time.monotonic() < deadline:
            self.page.evaluate("0")  # a round trip, during which the binding reports
        assert len(self.hints) == before + 1, f"capture reported {self.hints[before:]}"
        hint = self.hints[-1]
        now = Guide.from_page(self.page.evaluate(GUIDE_STEPS, pathfinder_contract().data))
        step = step_shown(hint["stepId"], now, self.last_read)
        self.last_read = now or self.last_read
        assert step is not None, f"capture cannot read back step {hint['stepId']}"
        kind = ShowMe if hint["type"] == "show_me" else DoIt
        return kind(stepId=step.step_id, action=step.action).to_wire()


def original_broadcasts(label: str, classes: str) -> bool:
    """The original's rule (action-capture.ts): a button whose text says Show me or Do it."""
    return ("show me" in label.lower() or "do it" in label.lower()) and bool(classes)


def first_step(blocks: list[dict[str, Any]]) -> str:
    for block in blocks:
        if block["type"] == "section":
            return first_step(block["blocks"])
        if "id" in block:
            return str(block["id"])
    raise AssertionError("a guide without step ids")


def comparable(event: dict[str, Any]) -> dict[str, Any]:
    action = {k: v for k, v in (event.get("action") or {}).items() if v is not None}
    return {"type": event["type"], "stepId": event["stepId"], "action": action}


def click_every_step(
    capture: CapturePage, guide_id: str, ours: list[dict[str, Any]]
) -> list[tuple[str, str, bool]]:
    """Show me, then Do it, of every step in order, as a presenter does; what was clicked."""
    clicked = []
    for kind, step_id in step_buttons(guide(guide_id)["blocks"]):
        target = doable(capture.page, kind, step_id)
        label = target.inner_text()
        broadcast = original_broadcasts(label, target.get_attribute("class") or "")
        ours.append(capture.click(target))
        clicked.append((kind, step_id, broadcast))
        if kind == "do-it":  # the presenter's own Do it finishes before the next step
            completed(capture.page, step_id, timeout=30)
    return clicked


def test_our_capture_reports_what_the_real_plugin_broadcasts(
    browser: Browser, signaling: str, real_site: SandboxServer
) -> None:
    ours: list[dict[str, Any]] = []
    capture = CapturePage(browser)
    page = capture.page
    open_guide(page, real_site, GUIDE_WALK[0])
    code = start_live_session(page, "Capture parity")
    with CliProcess(
        "follow", code, "--no-browser", "--json", "--name", "Recorder", "--server", signaling
    ) as recorder:
        recorder.wait_for(lambda line: '"session_start"' in line, timeout=20 * UNIT)
        clicked: list[tuple[str, str, bool]] = []
        for guide_id in GUIDE_WALK:
            page.evaluate("u => window.pathfinderPanel.open(u)", real_site.guide_url(guide_id))
            page.wait_for_selector(
                f"{PANEL} [data-step-id='{first_step(guide(guide_id)['blocks'])}']",
                timeout=20_000 * UNIT,
            )
            clicked += click_every_step(capture, guide_id, ours)
        expected_real = [(kind, step) for kind, step, broadcast in clicked if broadcast]
        real = []
        while len(real) < len(expected_real):
            line = recorder.wait_for(lambda line: '"show_me"' in line or '"do_it"' in line)
            real.append(json.loads(line))

    # Ours: one event per click, every step kind.
    assert [(e["type"].replace("_", "-"), e["stepId"]) for e in ours] == [
        (kind, step) for kind, step, _ in clicked
    ]
    # The original's events, click for click, equal ours for the same clicks.
    by_click = {(e["type"], e["stepId"]): comparable(e) for e in ours}
    for event in real:
        assert comparable(event) == by_click[(event["type"], event["stepId"])], event
    assert [(e["type"].replace("_", "-"), e["stepId"]) for e in real] == expected_real
    # The kinds the original leaves out, on purpose on our side.
    left_out = {
        e["action"]["targetAction"]
        for e in ours
        if (e["type"].replace("_", "-"), e["stepId"]) not in expected_real
    }
    assert left_out <= {"navigate", "multistep"}, left_out
