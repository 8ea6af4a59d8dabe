"""Live Sessions between the real Pathfinder panel and our agents, in both directions.

Our presenter (`present --grafana SANDBOX`) captures a person's clicks on the real panel's
steps; our guided and follow attendees and a real-panel attendee (joined through its own
dialog) replay them. Then a real-panel presenter ("Start live session") is followed by our
`follow` agents. Pages are driven through Playwright as a person would.
"""

from __future__ import annotations

import json

from playwright.sync_api import Browser, Page, Playwright

from bridge.browser.contract import pathfinder_contract
from bridge.sandbox.server import SandboxServer
from tests.conftest import UNIT
from tests.e2e.test_browser_agents import attach, code_of, start_attendee, wait_result
from tests.realpanel.panel import (
    OUR_OUTLINE,
    REAL_OUTLINE,
    button,
    completed,
    doable,
    highlighted,
    join_live_session,
    navigate,
    new_page,
    open_guide,
    start_live_session,
)
from tests.servers import CliProcess, free_port


def test_our_presenter_on_the_real_panel(
    browser: Browser,
    playwright: Playwright,
    signaling: str,
    real_site: SandboxServer,
    attendee_site: SandboxServer,
) -> None:
    ports = [free_port() for _ in range(3)]
    with CliProcess(
        "present", "--grafana", real_site.url, "--guide", real_site.guide_url("first-dashboard"),
        "--server", signaling, "--headless", "--remote-debugging-port", str(ports[0]),
        "--name", "Real panel",
    ) as presenter:  # fmt: skip
        presenter.wait_for(lambda line: line.startswith("Session "), timeout=60 * UNIT)
        code = code_of(presenter)
        with (
            start_attendee(signaling, code, attendee_site, "guided", "Grace", ports[1]) as grace,
            start_attendee(signaling, code, attendee_site, "follow", "Finn", ports[2]) as finn,
        ):
            # A real-panel attendee joins through its own dialog with our join code.
            rita = new_page(browser)
            open_guide(rita, real_site, "first-dashboard")
            join_live_session(rita, code, "Rita")
            presenter.wait_for(lambda line: line == "+ Rita joined (guided mode)")
            navigate(rita, "/dashboard/new")
            driver = attach(playwright, ports[0])  # the presenter's tab, as a person clicks it
            driver.wait_for_selector(".interactive-step")

            button(driver, "do-it", "new-dashboard").click()  # the real panel's "Go there"
            completed(driver, "new-dashboard")
            assert "ok: navigate to /dashboard/new" in wait_result(finn, "do_it", "new-dashboard")
            wait_result(grace, "do_it", "new-dashboard")
            grace_page = attach(playwright, ports[1])
            navigate(grace_page, "/dashboard/new")  # guided: Grace goes there herself

            button(driver, "show-me", "add-visualization").click()
            assert "ok: highlight" in wait_result(grace, "show_me", "add-visualization")
            wait_result(finn, "show_me", "add-visualization")
            for step, expected in [
                ("add-visualization", "ok: click"),
                ("panel-title", "ok: fill"),
                ("panel-query", "ok: fill"),
            ]:
                button(driver, "do-it", step).click()
                completed(driver, step)
                assert expected in wait_result(finn, "do_it", step)
                presenter.wait_for(lambda line, s=step: line == f"= Finn: ok (step {s})")
            # Grace and Rita follow along by hand; the presenter shows them the Save button
            # (a text target: the original's attendee finds no grafana: or :contains targets).
            for page in (grace_page, rita):
                page.locator(
                    '[aria-label="Add new panel"], [data-testid="data-testid Add new panel"]'
                ).click()
            button(driver, "show-me", "save-dashboard").click()
            assert "ok: highlight" in wait_result(grace, "show_me", "save-dashboard")
            rita.wait_for_selector(REAL_OUTLINE, timeout=5000 * UNIT)
            real = highlighted(rita, REAL_OUTLINE)
            assert real is not None and real == highlighted(grace_page, OUR_OUTLINE), real
            button(driver, "do-it", "save-dashboard").click()
            assert "ok: click" in wait_result(finn, "do_it", "save-dashboard")
            finn_page = attach(playwright, ports[2])
            finn_page.wait_for_url("**/d/*")
            assert (
                "rate(node_cpu_seconds_total[5m])" in finn_page.locator(".panel pre").inner_text()
            )


def test_real_presenter_with_our_followers(
    browser: Browser,
    playwright: Playwright,
    signaling: str,
    real_site: SandboxServer,
    attendee_site: SandboxServer,
) -> None:
    page = new_page(browser)
    open_guide(page, real_site, "welcome-tour")
    code = start_live_session(page, "Real presenter")
    ports = [free_port() for _ in range(2)]
    with (
        start_attendee(signaling, code, attendee_site, "guided", "Grace", ports[0]) as grace,
        start_attendee(signaling, code, attendee_site, "follow", "Finn", ports[1]) as finn,
    ):
        # They opened the real presenter's guide (backend-guide:welcome-tour) in their sandbox.
        assert any("welcome-tour" in line for line in finn.seen if line.startswith("Opened guide"))
        button(page, "show-me", "open-menu").click()
        assert "ok: highlight" in wait_result(grace, "show_me", "open-menu")
        assert "ok: highlight" in wait_result(finn, "show_me", "open-menu")
        button(page, "do-it", "open-menu").click()
        assert "ok: highlight" in wait_result(grace, "do_it", "open-menu")
        assert "ok: click" in wait_result(finn, "do_it", "open-menu")
        finn_page = attach(playwright, ports[1])
        finn_page.wait_for_selector(
            '[aria-label="Navigation mega menu"], [data-testid="data-testid navigation mega-menu"]'
        )
        # The real presenter's own "Go there" is not broadcast (the original captures only
        # buttons labelled Show me / Do it); a text target on the next page is.
        button(page, "do-it", "go-dashboards").click()
        completed(page, "go-dashboards")
        navigate(finn_page, "/dashboards")
        button(page, "show-me", "dismiss-news").click()
        assert "ok: highlight Got it" in wait_result(finn, "show_me", "dismiss-news")
        button(page, "do-it", "dismiss-news").click()
        assert "ok: click Got it" in wait_result(finn, "do_it", "dismiss-news")
        finn_page.wait_for_selector('[aria-label="What\'s new"]', state="detached")


def test_our_presenter_announces_the_real_panels_guide(
    playwright: Playwright, signaling: str, real_site: SandboxServer
) -> None:
    """The real panel renders no guide URL; our capture reads the active tab it keeps in
    localStorage, so opening a guide or switching tabs reaches attendees as `navigation`."""
    port = free_port()
    first, second = real_site.guide_url("welcome-tour"), real_site.guide_url("connect-datasource")
    with CliProcess(
        "present", "--grafana", real_site.url, "--guide", first, "--server", signaling,
        "--headless", "--remote-debugging-port", str(port), "--name", "Guides",
    ) as presenter:  # fmt: skip
        presenter.wait_for(lambda line: line.startswith("Session "), timeout=60 * UNIT)
        presenter.wait_for(lambda line: line == f"> guide {first}", timeout=20 * UNIT)
        code = code_of(presenter)
        with CliProcess(
            "follow", code, "--no-browser", "--json", "--name", "Recorder", "--server", signaling
        ) as recorder:
            recorder.wait_for(lambda line: '"session_start"' in line, timeout=20 * UNIT)
            driver = attach(playwright, port)

            def announced(url: str) -> None:
                line = recorder.wait_for(lambda line: '"navigation"' in line, timeout=10 * UNIT)
                assert json.loads(line)["tutorialUrl"] == url, line
                presenter.wait_for(lambda line: line == f"> guide {url}")

            # Another guide, opened the way Grafana asks the panel (a link to the plugin page).
            plugin_path = pathfinder_contract()["plugin_path"]
            driver.evaluate("p => window.sandbox.navigate(p)", f"{plugin_path}?doc={second}")
            announced(second)
            # Back to the first guide's tab, then the panel's own home tab (no guide: nothing
            # is announced), then the second guide's tab again.
            show_tab(driver, "welcome-tour")
            announced(first)
            driver.get_by_test_id("docs-panel-tab-recommendations").click()
            show_tab(driver, "connect-datasource")
            announced(second)
            # A section folds away once its last step is done, as soon as that step's Show me is
            # pressed: the click is still broadcast, with the step as the panel showed it.
            doable(driver, "do-it", "go-new-datasource").click()
            for step_id in ("prometheus-card", "tempo-card"):
                doable(driver, "show-me", step_id).click()
                line = recorder.wait_for(lambda line: '"show_me"' in line, timeout=10 * UNIT)
                assert json.loads(line)["stepId"] == step_id, line
            driver.wait_for_selector("[data-step-id='tempo-card']", state="detached")


def show_tab(page: Page, title: str) -> None:
    """Click a guide's tab in the real panel's tab bar, or in its overflow list when the
    narrow panel keeps the tab there (as a person does)."""
    tab = page.locator('[data-testid^="docs-panel-tab-tab-"]', has_text=title)
    if not tab.count():
        page.get_by_test_id("docs-panel-tab-overflow-button").click()
        tab = page.locator('[data-testid^="docs-panel-tab-dropdown-item-"]', has_text=title)
    # The panel sometimes keeps two tabs for a guide opened through its URL (one still titled
    # with the URL): both show the same guide, so either will do.
    tab.first.click()
