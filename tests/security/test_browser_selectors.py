"""Issue 9.4: reading an attendee's page through its receipts, and pinning its renderer.

Mounted as the review did, through real sessions: a presenter (`present --no-browser`, its
events typed on stdin) and a guided attendee (`follow`, real Chromium on the real sandbox)
whose page holds a secret. Each probe is a show_me whose ok/failed receipt would answer a
yes/no question about the page; the test looks inside the attendee's browser through its
--remote-debugging-port.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Page, Playwright

from bridge.browser.contract import grafana_selectors
from bridge.browser.guide import Guide
from bridge.browser.locate import LocateError, button_target, translate_selector
from bridge.protocol.events import InteractiveAction, ShowMe, TargetAction
from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT
from tests.servers import CliProcess, free_port

SECRET = "tok-7f3a91"
PLANT_SECRET = """(secret) => {
  const vault = document.createElement("div");
  vault.id = "vault";
  vault.dataset.token = secret;
  vault.textContent = "API token " + secret;
  document.body.append(vault);
}"""
# The review's renderer bomb: nested count() over every node, O(n^4).
XPATH_BOMB = "xpath=//*[count(//*[count(//*[count(//*)>0])>0])>0]"


SELECTORS = grafana_selectors("12.0.0")


@pytest.mark.parametrize(
    "hostile",
    [
        "xpath=//body",
        "//div[@id='vault']",
        "css=div",
        "text=Save",
        '"Save"',
        "internal:role=button",
        'internal:attr=[data-token^="tok"]',
        "div >> text=tok",
        'div[title=">>"]',
        ':text-matches("tok-[0-9a-f]")',
        'a:text-is("x")',
        "a:visible",
        "a:right-of(#b)",
        "a::before",
        "svg|a",
        ":scope",
        "div:has(div:has(a))",
        "a:not(:contains(x))",
        "li:nth-child(2 of .x)",
        "a:nth-match(2) > b",
        "a\nb",
        ", ".join(["a"] * 17),
        " ".join(["a"] * 33),
    ],
)
def test_only_pathfinders_dialect_is_accepted(hostile: str) -> None:
    with pytest.raises(LocateError):
        translate_selector(hostile, SELECTORS)


@pytest.mark.parametrize(
    "dialect",
    [
        '#id.class[data-x="1" i] > span + em ~ b',
        'div.cards:has(> h2:contains("Data")) button:nth-match(3)',
        "section:has(h2) a:contains(Explore)",
        'p.status:text("working")',
        "li:nth-child(2n+1):not(.done, [hidden])",
        "grafana:pages.AddDataSource.dataSourcePluginsV2(Prometheus)",
        "input:focus-within, textarea:disabled",
    ],
)
def test_the_dialect_is_kept(dialect: str) -> None:
    translate_selector(dialect, SELECTORS)


@given(st.text(max_size=200))
def test_any_text_is_a_dialect_selector_or_a_refusal(text: str) -> None:
    try:
        selector = translate_selector(text, SELECTORS)
    except LocateError:
        return
    # Whatever is accepted is one Playwright CSS selector: no engine prefix, no chaining
    # other than the `>> nth=` that :nth-match(n) becomes.
    head = selector.split(" >> ", 1)[0]
    assert "=" not in head.split("[", 1)[0].split("(", 1)[0]
    assert all(
        part.startswith("nth=") or ":" not in part[:1] for part in selector.split(" >> ")[1:]
    )
    button_target(text, SELECTORS) if text.strip() else None


def test_an_event_names_a_guide_step_by_id_or_by_action_and_target() -> None:
    raw = {
        "url": "http://127.0.0.1/guides/g",
        "steps": [
            {"stepId": "a", "action": {"targetAction": "button", "refTarget": "Save"}},
            {"stepId": "b", "action": {"targetAction": "highlight", "refTarget": "#x"}},
            {"stepId": "c", "action": {"targetAction": "nope"}},  # unreadable: left out
        ],
    }
    guide = Guide.from_page(raw)
    assert guide is not None and [s.step_id for s in guide.steps] == ["a", "b"]

    def event(step: str, action: TargetAction, target: str) -> ShowMe:
        return ShowMe(stepId=step, action=InteractiveAction(action, target))

    hostile = guide.step_for(event("a", TargetAction.HIGHLIGHT, "xpath=//x"))
    assert hostile is not None and hostile.action.refTarget == "Save"
    assert guide.step_for(event("zz", TargetAction.HIGHLIGHT, "#x")) is guide.steps[1]
    assert guide.step_for(event("zz", TargetAction.BUTTON, "#x")) is None
    assert Guide.from_page(None) is None and Guide.from_page({"steps": []}) is None


@pytest.fixture
def site() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings()) as sandbox:
        yield sandbox


class Session:
    """A presenter typing events and one guided attendee whose browser the test can see."""

    def __init__(self, playwright: Playwright, server: str, site: SandboxServer) -> None:
        self.site = site
        self.presenter = CliProcess(
            "present",
            "--no-browser",
            "--server",
            server,
            "--guide",
            site.guide_url("welcome-tour"),
            stdin=True,
        )
        code = self.presenter.wait_for(lambda line: line.startswith("Join code: "))
        port = free_port()
        self.attendee = CliProcess(
            "follow",
            code.removeprefix("Join code: "),
            "--grafana",
            site.url,
            "--name",
            "Grace",
            "--headless",
            "--server",
            server,
            "--remote-debugging-port",
            str(port),
            stdin=True,
            env={"PATHFINDER_BRIDGE_BROWSER_ACTION_TIMEOUT": "1"},
        )
        self.attendee.wait_for(lambda line: line.startswith("Opened guide"), 30 * UNIT)
        self.browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")

    @property
    def page(self) -> Page:
        pages = self.browser.contexts[0].pages
        assert len(pages) == 1, [p.url for p in pages]
        return pages[0]

    def show_me(self, step: str, target: str, action: str = "highlight") -> str:
        """The attendee's receipt for one probe, as its terminal shows it."""
        event = {
            "type": "show_me",
            "stepId": step,
            "action": {"targetAction": action, "refTarget": target},
        }
        self.presenter.write(json.dumps(event))
        line = self.attendee.wait_for(lambda line: line.startswith(f"show_me {step}: "), 15 * UNIT)
        return line.removeprefix(f"show_me {step}: ")

    def close(self) -> None:
        self.browser.close()
        self.attendee.__exit__()
        self.presenter.__exit__()


@pytest.fixture
def session(playwright: Playwright, server: str, site: SandboxServer) -> Iterator[Session]:
    live = Session(playwright, server, site)
    try:
        yield live
    finally:
        live.close()


def test_receipts_answer_no_question_about_the_page(session: Session) -> None:
    session.page.evaluate(PLANT_SECRET, SECRET)
    present, absent = SECRET[:5], "tok-8"

    # The guide is open: a probe that is not one of its steps is refused, whatever it asks.
    for step, prefix in (("probe-yes", present), ("probe-no", absent)):
        receipt = session.show_me(step, f'div[data-token^="{prefix}"]')
        assert receipt == "failed: refused: not a step of your guide"
    # A guide step's id with a hostile target: the attendee's own step is what is shown.
    receipt = session.show_me("open-menu", 'xpath=//div[@id="vault"]')
    assert receipt == "ok: highlight grafana:components.NavBar.Toggle.button"

    # With the panel closed, only the dialect rule applies: Playwright's own syntax is refused
    # before the page is touched, so a yes and a no get the same answer.
    session.page.evaluate("() => window.pathfinderPanel.toggle()")
    probes = [
        f'xpath=//*[starts-with(@data-token, "{present}")]',
        f'xpath=//*[starts-with(@data-token, "{absent}")]',
        f':text-matches("{present}")',
        f'internal:attr=[data-token^="{present}"]',
        f"#vault >> text={present}",
        XPATH_BOMB,
    ]
    for number, probe in enumerate(probes):
        receipt = session.show_me(f"dialect-{number}", probe)
        assert receipt.startswith("failed: refused: not Pathfinder's selector dialect"), probe
    session.presenter.wait_for(
        lambda line: line.startswith("= Grace: failed: refused: not Pathfinder's selector dialect")
    )
    # The renderer is free: an ordinary target is found and highlighted at once.
    assert session.show_me("fine", "#vault") == "ok: highlight #vault"
    assert session.page.locator(".interactive-highlight-outline").count() == 1
    # The attendee opens the panel again: the guide rule holds at once (the guide the
    # attendee last replayed without is not trusted past a change of the panel).
    session.page.evaluate("() => window.pathfinderPanel.toggle()")
    session.page.wait_for_selector('[data-step-id="open-menu"]')
    assert session.show_me("again", "#vault") == "failed: refused: not a step of your guide"


def test_a_page_that_stops_answering_is_closed_and_reopened(session: Session) -> None:
    stuck = session.page
    # The page's main thread is busy for a minute (a runaway selector would do the same).
    stuck.evaluate(
        "() => setTimeout(() => { const end = Date.now() + 60000; while (Date.now() < end); }, 50)"
    )
    time.sleep(0.2)
    receipt = session.show_me("open-menu", "grafana:components.NavBar.Toggle.button", "button")
    assert receipt.startswith("failed: ") and receipt.endswith(
        "took over 3 s; the page was closed and reopened"
    ), receipt
    session.presenter.wait_for(
        lambda line: line.startswith("= Grace: failed: ") and "reopened" in line
    )
    # One fresh page, on the same origin, showing the same guide, and answering.
    if not stuck.is_closed():
        stuck.wait_for_event("close", timeout=10_000 * UNIT)
    context = session.browser.contexts[0]
    if not context.pages:
        context.wait_for_event("page", timeout=10_000 * UNIT)
    fresh = session.page
    assert fresh is not stuck
    fresh.wait_for_selector('[data-step-id="open-menu"]', timeout=10_000 * UNIT)
    assert fresh.evaluate("() => location.origin") == session.site.url
    receipt = session.show_me("open-menu", "grafana:components.NavBar.Toggle.button", "button")
    assert receipt == "ok: highlight grafana:components.NavBar.Toggle.button"
