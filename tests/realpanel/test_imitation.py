"""The imitation stays honest: each sandbox guide renders the same step DOM in the sandbox's
imitation panel (bridge/sandbox/static/pathfinder.js) as in the real panel.

For every step: its id, data-targetaction, data-reftarget, data-targetvalue, the tooltip and a
multistep's internal actions, its state, requirements state and fix type, and the buttons it
offers (test id, label, Pathfinder classes). Compared when each guide opens on a fresh page, and,
for the guides without sections, once a presenter has walked them (every step done, "Redo").

Not compared, on purpose (the imitation's header says why): when the panel re-checks a blocked
step (the imitation every 300 ms, the real one when the URL changes or on Fix this / Retry), a
finished section folding away, and the buttons of a guided block whose requirements are met
(the sandbox has no data source API, so the real panel never gets there).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from playwright.sync_api import Browser, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bridge.browser.contract import pathfinder_contract
from bridge.sandbox.realpanel import RealPanel
from bridge.sandbox.server import SandboxServer, SandboxSettings
from bridge.sandbox.walk import step_buttons
from tests.conftest import UNIT
from tests.realpanel.conftest import PRESENTER_VERSION
from tests.realpanel.panel import PANEL, completed, doable, guide, new_page

#: Walked to the end on both panels, then compared again (sections fold away in the real one).
WALKED = ("welcome-tour", "first-dashboard")

STEPS = """(panel) => Array.from(document.querySelectorAll(panel + " [data-step-id]")).map((e) => {
  const a = (name) => e.getAttribute(name);
  const internal = a("data-internal-actions");
  return {
    id: a("data-step-id"), action: a("data-targetaction"), reftarget: a("data-reftarget"),
    value: a("data-targetvalue"), comment: a("data-targetcomment"),
    internal: internal && JSON.parse(internal),
    state: a("data-test-step-state"), requirements: a("data-test-requirements-state"),
    fix: a("data-test-fix-type"),
    buttons: Array.from(e.querySelectorAll("button")).map((b) => [b.getAttribute("data-testid"),
      b.textContent.trim(), b.className.split(/\\s+/).filter((c) => c.startsWith("interactive-")).join(" ")].join("|")),
  };
})"""

#: No step is being checked: what the page shows now is a verdict.
SETTLED = """(panel) => { const s = document.querySelectorAll(panel + " [data-step-id]");
  return s.length > 0 && Array.from(s).every((e) => e.getAttribute("data-test-step-state") !== "checking"
    && ["met", "unmet"].includes(e.getAttribute("data-test-requirements-state"))); }"""


def open_fresh(browser: Browser, site: SandboxServer, guide_id: str) -> Page:
    page = new_page(browser)
    doc = quote(site.guide_url(guide_id), safe="")
    page.goto(f"{site.url}{pathfinder_contract()['plugin_path']}?doc={doc}")
    page.wait_for_selector(f"{PANEL} [data-step-id]", timeout=20_000 * UNIT)
    return page


def steps(page: Page) -> list[dict[str, Any]]:
    try:
        page.wait_for_function(SETTLED, arg=PANEL, timeout=10_000 * UNIT)
    except PlaywrightTimeout:
        raise AssertionError(
            f"the steps on {page.url} never settled: {page.evaluate(STEPS, PANEL)}"
        ) from None
    return list(page.evaluate(STEPS, PANEL))


def same_steps(real: Page, imitation: Page, when: str) -> None:
    """Both panels show the same steps. The real panel's verdicts arrive as its checks finish,
    so a difference is looked at again until the pages agree or the time is up."""
    deadline = time.monotonic() + 10 * UNIT
    while True:
        theirs, ours = steps(real), steps(imitation)
        if theirs == ours or time.monotonic() > deadline:
            break
        real.wait_for_timeout(250)  # a pause between looks, not an assertion on time
    for a, b in zip(theirs, ours, strict=False):
        assert a == b, f"{when}: real panel {a}\nimitation {b}"
    assert [s["id"] for s in theirs] == [s["id"] for s in ours], when


def walk(page: Page, guide_id: str) -> None:
    """A presenter's every Show me and Do it, unblocking steps as a person does."""
    for kind, step_id in step_buttons(guide(guide_id)["blocks"]):
        doable(page, kind, step_id).click()
        if kind == "do-it":
            completed(page, step_id, timeout=30)


def test_the_imitation_renders_the_real_panels_steps(
    browser: Browser, real_panel: RealPanel
) -> None:
    with (
        SandboxServer(
            SandboxSettings(grafana_version=PRESENTER_VERSION, real_panel=real_panel)
        ) as real_site,
        SandboxServer(SandboxSettings(grafana_version=PRESENTER_VERSION)) as imitation_site,
    ):
        for guide_id in ("welcome-tour", "grafana-shell", "first-dashboard", "connect-datasource"):
            real = open_fresh(browser, real_site, guide_id)
            imitation = open_fresh(browser, imitation_site, guide_id)
            same_steps(real, imitation, f"{guide_id}, opened")
            if guide_id in WALKED:
                walk(real, guide_id)
                walk(imitation, guide_id)
                same_steps(real, imitation, f"{guide_id}, walked")
            real.context.close()
            imitation.context.close()
