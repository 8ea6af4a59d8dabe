"""Driving the real Pathfinder panel as a person does (sync Playwright), and reading its DOM."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bridge.sandbox.server import SandboxServer
from tests.conftest import UNIT

GUIDES = Path(__file__).resolve().parents[2] / "bridge" / "sandbox" / "guides"
VIEWPORT = {"width": 1280, "height": 800}
PANEL = '[data-testid="docs-panel-container"]'


def guide(guide_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GUIDES / f"{guide_id}.json").read_text(encoding="utf-8"))
    return data


#: The sandbox guides in an order a presenter can walk in one page: each guide's steps become
#: doable from where the previous guide left the app (welcome-tour opens the menu its steps
#: need; grafana-shell, after it, closes it again).
GUIDE_WALK = ("welcome-tour", "grafana-shell", "first-dashboard", "connect-datasource")


def new_page(browser: Browser) -> Page:
    return browser.new_context(viewport=VIEWPORT).new_page()  # type: ignore[arg-type]


def open_guide(page: Page, site: SandboxServer, guide_id: str, route: str = "/") -> None:
    """Open a sandbox guide in the real panel, the way the plugin's ?doc= parameter does."""
    page.goto(f"{site.url}{route}?doc={site.guide_url(guide_id)}")
    page.wait_for_selector(f"{PANEL} .interactive-step", timeout=20_000 * UNIT)


def navigate(page: Page, path: str) -> None:
    """In-app navigation, as a person clicking a link (through the sandbox's router)."""
    page.evaluate("p => window.sandbox.navigate(p)", path)
    page.wait_for_function("p => location.pathname === p", arg=path, timeout=5000 * UNIT)


def button(page: Page, kind: str, step_id: str, timeout: float = 10.0) -> Any:
    """A step's Show me / Do it button once the panel shows it enabled (requirements met)."""
    testid = f"interactive-{kind}-{step_id}"
    try:
        page.wait_for_function(
            "(id) => { const b = document.querySelector(`[data-testid='${id}']`); return !!b && !b.disabled }",
            arg=testid,
            timeout=timeout * 1000 * UNIT,
        )
    except PlaywrightTimeout:
        raise AssertionError(
            f"{testid} never became clickable on {page.url}; steps: {step_states(page)}"
        ) from None
    return page.locator(f'[data-testid="{testid}"]')


#: What a person waiting on a step sees: its button ready, or the panel offering "Fix this" or
#: "Retry" for a blocked step (none of them while the panel is checking it).
STEP_OFFERS = """([kind, id]) => {
  const button = document.querySelector(`[data-testid='interactive-${kind}-${id}']`);
  if (button && !button.disabled) return "ready";
  const step = document.querySelector(`[data-step-id='${id}']`);
  if (!step || step.getAttribute("data-test-requirements-state") === "checking") return false;
  for (const offer of ["fix", "retry"])
    if (document.querySelector(`[data-testid='interactive-requirement-${offer}-${id}']`)) return offer;
  return false;
}"""


def doable(page: Page, kind: str, step_id: str, timeout: float = 10.0) -> Any:
    """A step's button once it can be clicked. A blocked step is unblocked as a person does:
    "Fix this" when the panel offers a fix, else "Retry" (the panel re-checks a blocked step
    by itself only when the URL changes, so a target that appears in place needs a retry)."""
    deadline = time.monotonic() + timeout * UNIT
    while True:
        try:
            offer = page.wait_for_function(
                STEP_OFFERS,
                arg=[kind, step_id],
                timeout=max(deadline - time.monotonic(), 0.1) * 1000,
            ).json_value()
        except PlaywrightTimeout:
            raise AssertionError(
                f"interactive-{kind}-{step_id} never became clickable on {page.url}; "
                f"steps: {step_states(page)}"
            ) from None
        if offer == "ready":
            return page.locator(f'[data-testid="interactive-{kind}-{step_id}"]')
        # The panel may re-check the step meanwhile and take the offer away: then look again.
        with contextlib.suppress(PlaywrightTimeout):
            page.locator(f'[data-testid="interactive-requirement-{offer}-{step_id}"]').click(
                timeout=2000 * UNIT
            )


def completed(page: Page, step_id: str, timeout: float = 10.0) -> None:
    """Wait until the panel marks a step done (a person waits for Do it to finish; a
    multistep shows each of its actions, so it takes longer)."""
    try:
        page.wait_for_selector(
            f'[data-step-id="{step_id}"][data-test-step-state="completed"]',
            state="attached",
            timeout=timeout * 1000 * UNIT,
        )
    except PlaywrightTimeout:
        raise AssertionError(f"{step_id} never completed; steps: {step_states(page)}") from None


def step_states(page: Page) -> list[str]:
    """Each step's id, state and requirement explanation: what a person would read."""
    return list(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('.interactive-step')).map(e =>
                 `${e.getAttribute('data-step-id')}=${e.getAttribute('data-test-step-state')}` +
                 ` ${(e.querySelector('[id^=requirement-explanation]') || {}).textContent || ''}`.trimEnd())"""
        )
    )


def has_button(page: Page, kind: str, step_id: str) -> bool:
    return page.locator(f'[data-testid="interactive-{kind}-{step_id}"]').count() > 0


def start_live_session(page: Page, name: str) -> str:
    """ "Start live session" in the panel; returns the join code the dialog shows."""
    page.get_by_role("button", name="Start live session").click()
    page.get_by_placeholder("e.g., Prometheus Workshop").fill(name)
    page.get_by_role("button", name="Create session").click()
    handle = page.wait_for_function(
        "() => Array.from(document.querySelectorAll('input')).map(i => i.value).find(v => v.startsWith('eyJ'))",
        timeout=10_000 * UNIT,
    )
    code = str(handle.json_value())
    close_dialog(page)
    return code


def join_live_session(page: Page, code: str, name: str) -> None:
    """ "Join live session" in the panel with a join code, as an attendee types it."""
    page.get_by_role("button", name="Join live session").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_test_id("live-session-attendee-code").fill(code)
    dialog.get_by_role("button", name="Next", exact=True).click()
    dialog.get_by_placeholder("Enter your name...").fill(name)
    dialog.get_by_role("button", name="Join session").click()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=live-session-attendee-code]')",
        timeout=10_000 * UNIT,
    )


def close_dialog(page: Page) -> None:
    # The presenter's dialog ignores Escape and its overlay swallows clicks; its close button
    # is drawn out of Playwright's view, so it is pressed the way a screen reader would.
    page.evaluate(
        "() => document.querySelectorAll('button[aria-label=Close]').forEach(b => b.click())"
    )
    page.wait_for_function(
        "() => !Array.from(document.querySelectorAll('input')).some(i => i.value.startsWith('eyJ'))",
        timeout=5000 * UNIT,
    )


# The element under a highlight: the outermost element of the page (not the panel) whose box is
# the outline's inset by Pathfinder's 4 px margin, as a CSS path. Works for the real panel's
# outline and for ours alike, so two pages can be compared element for element.
HIGHLIGHTED = """(outline) => {
  const box = document.querySelector(outline);
  if (!box) return null;
  const o = box.getBoundingClientRect();
  if (o.width === 0 && o.height === 0) return null;
  const want = { left: o.left + 4, top: o.top + 4, width: o.width - 8, height: o.height - 8 };
  const close = (a, b) => Math.abs(a - b) < 1.5;
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      const i = Array.from(e.parentElement.children).indexOf(e) + 1;
      parts.unshift(`${e.tagName.toLowerCase()}:nth-child(${i})`);
    }
    return parts.join(" > ");
  };
  for (const el of document.querySelectorAll("#app *")) {
    const r = el.getBoundingClientRect();
    if (close(r.left, want.left) && close(r.top, want.top) && close(r.width, want.width) && close(r.height, want.height))
      return path(el);
  }
  return "(no element under the outline)";
}"""

REAL_OUTLINE = ".interactive-highlight-outline:not([data-pathfinder-bridge])"
OUR_OUTLINE = "[data-pathfinder-bridge=highlight]"


def highlighted(page: Page, outline: str) -> str | None:
    value = page.evaluate(HIGHLIGHTED, outline)
    return str(value) if value is not None else None
