"""Replay parity: for every event our capture reports while a presenter walks the sandbox guides
on the real panel, the element our replay highlights is the element over which the real
attendee draws its `.interactive-highlight-outline`.

The attendee's page holds both attendees of one session, so they see the same page by
construction: our `follow` agent (guided, its browser on a real-panel sandbox) and, in that
same page, the real panel joined through its own "Join live session" dialog. The page follows
along as a person does (its own Do it after the presenter's), keeping pace with the presenter's
page, where our capture hears each click and `present --no-browser` sends it to both.

Differences on purpose, asserted (action-replay.ts, `findElements`): the original's attendee
looks a non-button target up with plain `querySelectorAll` and a button by its text, and never
resolves `grafana:` tokens; so for `grafana:` targets, Pathfinder's pseudo-classes (`:contains`,
`:nth-match`, `:text`) and a navigate step's URL it highlights nothing and says "Element not
found: ...", and for a multistep Do it in guided mode it only says that the presenter is
performing one. Ours highlights those targets (its dialect is Pathfinder's), the first target
of a multistep, and says where a navigate step takes the presenter.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

from bridge.sandbox.realpanel import RealPanel
from bridge.sandbox.server import SandboxServer, SandboxSettings
from bridge.sandbox.walk import step_buttons
from tests.conftest import UNIT
from tests.e2e.test_browser_agents import attach, start_attendee, wait_result
from tests.realpanel.conftest import PRESENTER_VERSION
from tests.realpanel.panel import (
    GUIDE_WALK,
    PANEL,
    completed,
    doable,
    guide,
    join_live_session,
    open_guide,
)
from tests.realpanel.test_capture_parity import CapturePage, first_step
from tests.servers import CliProcess, free_port

#: In the attendee's page: every highlight drawn (ours or the real panel's) with the element
#: under it, and every notification the page shows, in order.
RECORD = """() => {
  if (window.__seen) return;
  window.__seen = [];
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      parts.unshift(`${e.tagName.toLowerCase()}:nth-child(${Array.from(e.parentElement.children).indexOf(e) + 1})`);
    }
    return parts.join(" > ");
  };
  // The outermost page element (not the panel) whose box is the outline's, inset by 4 px.
  const under = (box) => {
    const o = box.getBoundingClientRect();
    const close = (a, b) => Math.abs(a - b) < 1.5;
    for (const el of document.querySelectorAll("#app *")) {
      const r = el.getBoundingClientRect();
      if (close(r.left, o.left + 4) && close(r.top, o.top + 4) && close(r.width, o.width - 8) && close(r.height, o.height - 8))
        return path(el);
    }
    return `(nothing under a ${box.className} at ${Math.round(o.left)},${Math.round(o.top)})`;
  };
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) {
      if (!(node instanceof Element)) continue;
      if (node.matches(".interactive-highlight-outline, .interactive-highlight-dot")) {
        window.__seen.push({ who: node.hasAttribute("data-pathfinder-bridge") ? "ours" : "real", element: under(node) });
      } else if (node.matches(".page-alert-list > [role]")) {
        window.__seen.push({ who: "notice", title: node.getAttribute("aria-label") || "", text: node.textContent });
      }
    }
  }).observe(document.body, { childList: true, subtree: true });
}"""


def original_misses(event: dict[str, Any]) -> str | None:
    """Why the original's attendee highlights nothing for this event, or None when it should
    highlight the element ours does."""
    action = event["action"]
    kind, target = action["targetAction"], action.get("refTarget") or ""
    if event["type"] == "do_it" and kind == "multistep":
        return "in guided mode the original only says the presenter runs a multistep"
    if kind == "navigate":
        return "a navigate step's target is a URL: the original looks it up as a selector"
    if "grafana:" in target:
        return "the original's replay does not resolve grafana: tokens"
    if kind != "button" and any(p in target for p in (":contains(", ":nth-match(", ":text(")):
        return "the original finds non-button targets with plain querySelectorAll"
    return None


def seen(page: Page) -> list[dict[str, str]]:
    return list(page.evaluate("() => window.__seen"))


def outcome(page: Page, follower: CliProcess, event: dict[str, Any]) -> tuple[str, list[Any]]:
    """Our follower's result line, and what the page showed once both attendees answered: the
    real panel draws its outline or shows a notification."""
    ours = wait_result(follower, event["type"], event["stepId"])
    page.wait_for_function(
        "() => window.__seen.some(s => s.who === 'real' || (s.who === 'notice' && s.title === 'Live Session'))",
        timeout=10_000 * UNIT,
    )
    return ours, seen(page)


def test_our_replay_highlights_what_the_real_attendee_highlights(
    browser: Browser, playwright: Playwright, signaling: str, real_panel: RealPanel
) -> None:
    capture = CapturePage(browser)
    presenter_page = capture.page
    checked: list[tuple[str, str, str]] = []
    with (
        SandboxServer(
            SandboxSettings(grafana_version=PRESENTER_VERSION, real_panel=real_panel)
        ) as presenter_site,
        SandboxServer(
            SandboxSettings(grafana_version=PRESENTER_VERSION, real_panel=real_panel)
        ) as attendee_site,
    ):
        open_guide(presenter_page, presenter_site, GUIDE_WALK[0])
        port = free_port()
        with CliProcess(
            "present", "--no-browser", "--guide", presenter_site.guide_url(GUIDE_WALK[0]),
            "--server", signaling, "--name", "Replay parity", stdin=True,
        ) as presenter:  # fmt: skip
            code = presenter.wait_for(lambda line: line.startswith("Join code: ")).split()[-1]
            with start_attendee(signaling, code, attendee_site, "guided", "Ours", port) as follower:
                page = attach(playwright, port)
                page.wait_for_selector(f"{PANEL} .interactive-step", timeout=20_000 * UNIT)
                page.evaluate(RECORD)
                join_live_session(page, code, "Rita")
                presenter.wait_for(lambda line: line == "+ Rita joined (guided mode)")
                for number, guide_id in enumerate(GUIDE_WALK):
                    if number:
                        for each in (presenter_page, page):
                            url = presenter_site.guide_url(guide_id)
                            each.evaluate("u => window.pathfinderPanel.open(u)", url)
                    first = first_step(guide(guide_id)["blocks"])
                    for each in (presenter_page, page):
                        each.wait_for_selector(
                            f"{PANEL} [data-step-id='{first}']", timeout=20_000 * UNIT
                        )
                    checked += walk(guide_id, presenter_page, page, presenter, follower, capture)
    kinds = {(why or "same element") for _, _, why in checked}
    # Every kind of event was seen: same-element checks and each difference on purpose.
    assert len(checked) >= 20 and "same element" in kinds and len(kinds) == 5, checked


def walk(
    guide_id: str,
    presenter_page: Page,
    page: Page,
    presenter: CliProcess,
    follower: CliProcess,
    capture: CapturePage,
) -> list[tuple[str, str, str]]:
    """The presenter's Show me and Do it of every step in order, each replayed by both
    attendees and compared; the attendee does each step after the presenter."""
    checked = []
    for kind, step_id in step_buttons(guide(guide_id)["blocks"]):
        captured = capture.click(doable(presenter_page, kind, step_id))
        event = {k: captured[k] for k in ("type", "stepId")}
        event["action"] = {k: v for k, v in captured["action"].items() if v is not None}
        page.evaluate("() => { window.__seen.length = 0 }")
        presenter.write(json.dumps(event))
        result, shown = outcome(page, follower, event)
        checked.append(check(event, result, shown, original_misses(event)))
        if kind == "do-it":
            # The attendee does the step in its own panel, as a guided attendee does after
            # the presenter; then both pages agree on the state of the app.
            doable(page, "do-it", step_id).click()
            completed(presenter_page, step_id, timeout=30)
            completed(page, step_id, timeout=30)
    return checked


def check(
    event: dict[str, Any], result: str, shown: list[dict[str, str]], why: str | None
) -> tuple[str, str, str]:
    what = f"{event['type']} {event['stepId']} ({event['action']['targetAction']} "
    what += f"{event['action'].get('refTarget')!r}): ours {result!r}, page {shown}"
    real = [s["element"] for s in shown if s["who"] == "real"]
    mine = [s["element"] for s in shown if s["who"] == "ours"]
    notices = [s["text"] for s in shown if s["who"] == "notice" and s["title"] == "Live Session"]
    if why is None:
        assert ": ok: highlight" in result and mine and real, what
        assert real[0] == mine[0] and not real[0].startswith("("), what
    else:
        # Each side does what it does on purpose: ours replays, the original explains.
        assert not real, f"{why}, yet the original highlighted: {what}"
        if event["action"]["targetAction"] == "navigate":
            assert ": ok: the presenter goes to " in result, what
        else:
            assert ": ok: highlight" in result and mine and not mine[0].startswith("("), what
        if "multistep" in why:
            assert any("multi-step action" in text for text in notices), what
        else:
            target = event["action"].get("refTarget")
            assert any(text.endswith(f"Element not found: {target}") for text in notices), what
    return event["type"], event["stepId"], why or ""
