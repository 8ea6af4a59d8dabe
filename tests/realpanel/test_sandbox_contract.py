"""Where the real panel depends on how Grafana behaves, the sandbox behaves the same way.

Pathfinder checks a step's requirements when the step mounts, then re-checks a blocked step only
when the URL changes (it compares window.location every 2 s and re-checks 500 ms later) or
Grafana reports a context change (step-checker.hook.ts). Grafana opens the panel editor on a URL
of its own (`?editPanel=1`), so the step after "Add visualization" is re-checked once the editor
is there. A sandbox that opened the editor in place left that step blocked whenever its
re-check after the previous navigation ran before the editor opened.
"""

from __future__ import annotations

from playwright.sync_api import Browser

from bridge.sandbox.server import SandboxServer
from tests.conftest import UNIT
from tests.realpanel.panel import button, completed, new_page, open_guide

#: Records each check the real panel makes of the panel-title step: the page it started on and
#: its outcome once the check (with its retries) is over.
WATCH_CHECKS = """
window.__titleChecks = [];
let startedOn = null;
new MutationObserver(() => {
  const step = document.querySelector('[data-step-id="panel-title"]');
  const state = step && step.getAttribute("data-test-requirements-state");
  if (state === "checking") startedOn = startedOn || location.pathname;
  else if (startedOn && state) {
    window.__titleChecks.push(startedOn + " " + state);
    startedOn = null;
  }
}).observe(document, { subtree: true, attributes: true, childList: true });
"""


def test_the_step_after_add_visualization_unblocks_when_the_editor_opens(
    browser: Browser, real_site: SandboxServer
) -> None:
    page = new_page(browser)
    page.context.add_init_script(script=WATCH_CHECKS)
    open_guide(page, real_site, "first-dashboard")
    button(page, "do-it", "new-dashboard").click()  # "Go there"
    completed(page, "new-dashboard")
    page.wait_for_function("() => location.pathname === '/dashboard/new'")
    # The order that used to lose: the panel re-checks panel-title on the new page, with its
    # retries, and finds it blocked (the editor is not open) before Add visualization is clicked.
    page.wait_for_function(
        "() => window.__titleChecks.includes('/dashboard/new unmet')", timeout=10_000 * UNIT
    )
    button(page, "show-me", "add-visualization").click()  # as the presenter in the session tests
    button(page, "do-it", "add-visualization").click()
    completed(page, "add-visualization")
    button(page, "do-it", "panel-title").click()
    completed(page, "panel-title")
    assert page.locator("#panel-title").input_value() == "CPU usage"
    assert page.evaluate("() => new URLSearchParams(location.search).get('editPanel')") == "1"
