"""Capture parity: for every step of the sandbox guides, the event our capture (capture.js)
reports for a click equals the one the real plugin broadcasts for the same click.

One page runs the real panel as a live-session presenter and our capture script beside it;
the real plugin's broadcasts are recorded by our attendee (`follow --no-browser --json`).

Differences on purpose (asserted, not hidden): the original captures only buttons whose text
or aria-label contains "show me" / "do it", so it never broadcasts "Go there" (navigate),
"Run N steps" (multistep) or a guided block's button; ours captures by the step's buttons, so
every step kind reaches attendees. A guided block has no action, so neither side sends it.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Browser, Page

from bridge.browser.contract import pathfinder_contract
from bridge.browser.launch import JS
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


def capture_page(browser: Browser, ours: list[dict[str, Any]]) -> Page:
    page = new_page(browser)
    page.context.expose_binding(
        "__pathfinderBridgeCapture",
        lambda source, payload: ours.append(payload) if payload.get("kind") == "step" else None,
    )
    page.context.add_init_script(
        script=f"window.__pathfinderBridgeContract = {pathfinder_contract().to_json()};"
    )
    page.context.add_init_script(path=JS / "capture.js")
    return page


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


def click_every_step(page: Page, guide_id: str) -> list[tuple[str, str, bool]]:
    """Show me, then Do it, of every step in order, as a presenter does; what was clicked."""
    clicked = []
    for kind, step_id in step_buttons(guide(guide_id)["blocks"]):
        target = doable(page, kind, step_id)
        label = target.inner_text()
        broadcast = original_broadcasts(label, target.get_attribute("class") or "")
        target.click()
        clicked.append((kind, step_id, broadcast))
        if kind == "do-it":  # the presenter's own Do it finishes before the next step
            completed(page, step_id, timeout=30)
    return clicked


def test_our_capture_reports_what_the_real_plugin_broadcasts(
    browser: Browser, signaling: str, real_site: SandboxServer
) -> None:
    ours: list[dict[str, Any]] = []
    page = capture_page(browser, ours)
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
            clicked += click_every_step(page, guide_id)
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
