"""Browser agents on the sandbox with Pathfinder's own session code on the other side.

Our presenter captures clicks in its sandbox tab for upstream attendees; upstream's presenter
(SessionManager + ActionCaptureSystem, injected into a sandbox page as Pathfinder runs inside
Grafana) broadcasts its clicks to our guided and follow attendees, who replay them in their own
sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Playwright

from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT
from tests.e2e.test_browser_agents import (
    attach,
    click_step,
    code_of,
    start_attendee,
    start_presenter,
    wait_result,
)
from tests.pathfinder.upstream import UpstreamPage
from tests.servers import free_port

PRESENTER_VERSION, ATTENDEE_VERSION = "13.2.3", "11.0.0"


@pytest.fixture(scope="module")
def presenter_site() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings(grafana_version=PRESENTER_VERSION)) as site:
        yield site


@pytest.fixture(scope="module")
def attendee_site() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings(grafana_version=ATTENDEE_VERSION)) as site:
        yield site


def without_empty(event: dict[str, Any]) -> dict[str, Any]:
    """An event as BinaryPack leaves it: undefined and null optional fields dropped."""
    action = {k: v for k, v in event["action"].items() if v is not None}
    return {"type": event["type"], "stepId": event["stepId"], "action": action}


def test_our_capture_broadcasts_what_upstream_capture_would(
    playwright: Playwright,
    upstream: UpstreamPage,
    upstream_scripts: list[Path],
    our_server: str,
    presenter_site: SandboxServer,
) -> None:
    """Upstream: ActionCaptureSystem turns a Show me / Do it click into {type, stepId, action:
    {targetAction, refTarget, targetValue?, targetComment?, internalActions?}, coordinates}
    read from the step's data-* attributes. We must broadcast the same for the same click;
    upstream's own capture runs beside ours in the presenter's tab (recording, not sending)."""
    port = free_port()
    with start_presenter(our_server, presenter_site, "welcome-tour", port) as presenter:
        ada = upstream.attend(our_server, code_of(presenter), "Ada", "guided")
        presenter.wait_for(lambda line: line == "+ Ada joined (guided mode)")
        [start] = ada.wait_events(1, "session_start")
        assert start["config"]["tutorialUrl"] == presenter_site.guide_url("welcome-tour")
        driver = attach(playwright, port)
        UpstreamPage.inject(driver, upstream_scripts).page.evaluate(
            "(id) => harness.recordCapture(id)", "session"
        )
        clicks = [("show-me", "open-menu"), ("do-it", "open-menu"), ("show-me", "dashboards-link")]
        for kind, step in clicks:
            click_step(driver, kind, step)
        received = ada.wait_events(len(clicks), "show_me", "do_it")
        theirs = driver.evaluate("upstreamCaptured")
        assert [without_empty(e) for e in received] == [without_empty(e) for e in theirs]
        assert [e["coordinates"] for e in received] == [e["coordinates"] for e in theirs]
        assert [(e["type"], e["stepId"]) for e in received] == [
            ("show_me", "open-menu"),
            ("do_it", "open-menu"),
            ("show_me", "dashboards-link"),
        ]


def test_upstream_presenter_with_our_guided_and_follow_attendees(
    playwright: Playwright,
    page: Page,
    upstream_scripts: list[Path],
    our_server: str,
    presenter_site: SandboxServer,
    attendee_site: SandboxServer,
) -> None:
    guide = presenter_site.guide_url("welcome-tour")
    page.goto(f"{presenter_site.url}/a/grafana-grafanadocsplugin-app?doc={guide}")
    page.wait_for_selector(".interactive-step")
    upstream = UpstreamPage.inject(page, upstream_scripts)
    presenter = upstream.present(our_server, "Sandbox tour", guide)
    presenter.capture_clicks()
    ports = [free_port() for _ in range(2)]
    code = presenter.join_code
    with (
        start_attendee(our_server, code, attendee_site, "guided", "Grace", ports[0]) as grace,
        start_attendee(our_server, code, attendee_site, "follow", "Finn", ports[1]) as finn,
    ):
        presenter.wait("s => s.attendees.length === 2")
        # Upstream: a Show me is a highlight for everyone; a Do it is performed in follow mode
        # and highlighted in guided mode. Ours must replay what upstream's capture sends.
        click_step(page, "show-me", "open-menu")
        assert "ok: highlight" in wait_result(grace, "show_me", "open-menu")
        assert "ok: highlight" in wait_result(finn, "show_me", "open-menu")
        click_step(page, "do-it", "open-menu")
        assert "ok: highlight" in wait_result(grace, "do_it", "open-menu")
        assert "ok: click" in wait_result(finn, "do_it", "open-menu")
        attach(playwright, ports[1]).wait_for_selector(
            '[data-testid="data-testid navigation mega-menu"]'
        )
        click_step(page, "show-me", "dashboards-link")  # Finn's menu is open now
        assert "ok: highlight" in wait_result(finn, "show_me", "dashboards-link")

        # Upstream: attendee messages other than its own control types reach the presenter's
        # onEvent; ours report each replay there as attendee_status.
        statuses = presenter.wait_events(5, "attendee_status")
        assert {e["status"] for e in statuses} == {"joined"}

        # Upstream: mode_change updates the attendee list, hand_raise the raised hands.
        grace.write("mode follow")
        grace.write("hand")
        presenter.wait(
            "s => s.attendees.some(a => a.name === 'Grace' && a.mode === 'follow')"
            " && s.handRaises.some(h => h.attendeeName === 'Grace')"
        )

        presenter.end()
        for attendee in (grace, finn):
            attendee.wait_for(lambda line: line == "Session ended: the presenter ended the session")
            assert attendee.process.wait(15 * UNIT) == 0
