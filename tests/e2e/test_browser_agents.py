"""The browser agents as a user runs them: CLI processes, real Chromium, real aiortc, real server.

Presenters and attendees run as `pathfinder-bridge` subprocesses against sandboxes (the
presenter's and the attendees' run different Grafana versions). Tests look inside an
attendee's browser through its --remote-debugging-port, as any other tool could.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Playwright

from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.servers import CliProcess, free_port

PRESENTER_VERSION, ATTENDEE_VERSION = "13.2.3", "11.0.0"


@pytest.fixture(scope="module")
def presenter_site() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings(grafana_version=PRESENTER_VERSION)) as site:
        yield site


@pytest.fixture
def attendee_site() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings(grafana_version=ATTENDEE_VERSION)) as site:
        yield site


def start_presenter(server: str, site: SandboxServer, guide: str, port: int) -> CliProcess:
    process = CliProcess(
        "present",
        "--grafana",
        site.url,
        "--guide",
        site.guide_url(guide),
        "--server",
        server,
        "--headless",
        "--remote-debugging-port",
        str(port),
        "--name",
        "E2E",
    )
    process.wait_for(lambda line: line.startswith("Session "))
    return process


def code_of(process: CliProcess) -> str:
    return next(line for line in process.seen if line.startswith("Join code: ")).removeprefix(
        "Join code: "
    )


def start_attendee(
    server: str, code: str, site: SandboxServer, mode: str, name: str, port: int
) -> CliProcess:
    process = CliProcess(
        "follow",
        code,
        "--grafana",
        site.url,
        "--mode",
        mode,
        "--name",
        name,
        "--headless",
        "--server",
        server,
        "--remote-debugging-port",
        str(port),
        stdin=True,
        env={"PATHFINDER_BRIDGE_BROWSER_ACTION_TIMEOUT": "2"},
    )
    process.wait_for(lambda line: line.startswith("Opened guide"))
    return process


def attach(playwright: Playwright, port: int) -> Page:
    browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
    return browser.contexts[0].pages[0]


def click_step(page: Page, kind: str, step_id: str) -> None:
    button = page.locator(f'[data-testid="interactive-{kind}-{step_id}"]')
    page.wait_for_function(
        "(id) => { const b = document.querySelector(`[data-testid='${id}']`); return b && !b.disabled }",
        arg=f"interactive-{kind}-{step_id}",
        timeout=10_000,
    )
    button.click()


def wait_result(process: CliProcess, event_type: str, step_id: str) -> str:
    return process.wait_for(lambda line: line.startswith(f"{event_type} {step_id}: "))


def test_guided_and_follow_attendees_on_another_grafana_version(
    playwright: Playwright, server: str, presenter_site: SandboxServer, attendee_site: SandboxServer
) -> None:
    ports = [free_port() for _ in range(3)]
    with start_presenter(server, presenter_site, "first-dashboard", ports[0]) as presenter:
        code = code_of(presenter)
        with (
            start_attendee(server, code, attendee_site, "guided", "Grace", ports[1]) as grace,
            start_attendee(server, code, attendee_site, "follow", "Finn", ports[2]) as finn,
        ):
            presenter.wait_for(
                lambda line: (
                    line == "+ Finn joined (follow mode)" or line == "+ Grace joined (guided mode)"
                )
            )
            driver = attach(playwright, ports[0])
            finn_page = attach(playwright, ports[2])
            grace_page = attach(playwright, ports[1])
            click_step(driver, "do-it", "new-dashboard")
            assert "ok: navigate to /dashboard/new" in wait_result(finn, "do_it", "new-dashboard")
            assert "ok: the presenter goes to /dashboard/new" in wait_result(
                grace, "do_it", "new-dashboard"
            )
            click_step(driver, "show-me", "add-visualization")
            # Guided: Grace's page shows Pathfinder's outline over her own (11.0.0: aria-label) button.
            wait_result(finn, "show_me", "add-visualization")
            for step, kind, expected in [
                ("add-visualization", "do-it", "ok: click"),
                ("panel-title", "do-it", "ok: fill"),
                ("panel-query", "do-it", "ok: fill"),
                ("save-dashboard", "do-it", "ok: click"),
            ]:
                click_step(driver, kind, step)
                assert expected in wait_result(finn, "do_it", step)
                presenter.wait_for(lambda line, s=step: line == f"= Finn: ok (step {s})")
            # The follow attendee's own Grafana really has the dashboard now.
            finn_page.wait_for_url("**/d/*")
            assert (
                finn_page.locator('[data-testid="data-testid Panel header CPU usage"]').count() == 1
            )
            assert (
                "rate(node_cpu_seconds_total[5m])" in finn_page.locator(".panel pre").inner_text()
            )
            assert finn_page.url.startswith(attendee_site.url)
            # The guided attendee only saw highlights: nothing was done in her Grafana.
            assert grace_page.url.startswith(attendee_site.url + "/a/")
            assert "highlight Save dashboard" in wait_result(grace, "do_it", "save-dashboard")
            grace.write("leave")
            presenter.wait_for(lambda line: line == "- Grace left")


def test_highlight_is_drawn_over_the_target(
    playwright: Playwright, server: str, presenter_site: SandboxServer, attendee_site: SandboxServer
) -> None:
    ports = [free_port() for _ in range(2)]
    with start_presenter(server, presenter_site, "connect-datasource", ports[0]) as presenter:
        with start_attendee(
            server, code_of(presenter), attendee_site, "guided", "Grace", ports[1]
        ) as grace:
            driver, page = attach(playwright, ports[0]), attach(playwright, ports[1])
            click_step(driver, "do-it", "go-new-datasource")
            wait_result(grace, "do_it", "go-new-datasource")
            page.evaluate(
                "p => window.sandbox.navigate(p)", "/connections/datasources/new"
            )  # Grace follows along
            click_step(driver, "show-me", "prometheus-card")
            assert "ok: highlight" in wait_result(grace, "show_me", "prometheus-card")
            outline = page.locator(".interactive-highlight-outline").bounding_box()
            target = page.locator(
                '[aria-label="Add new data source Prometheus"]'
            ).bounding_box()  # 11.0.0 form
            assert outline and target
            assert (
                abs(outline["x"] - (target["x"] - 4)) < 1.5
                and abs(outline["width"] - (target["width"] + 8)) < 1.5
            )
            comment = page.locator(".interactive-comment-box")
            assert (
                comment.inner_text() == "Metrics"
                and comment.get_attribute("data-test-action") == "highlight"
            )
            click_step(driver, "show-me", "tempo-card")  # :has + :nth-match
            assert "ok: highlight" in wait_result(grace, "show_me", "tempo-card")
            assert (
                page.locator(".interactive-highlight-outline").count() == 1
            )  # the previous one was cleared


def test_joining_mid_guide_and_switching_mode(
    playwright: Playwright, server: str, presenter_site: SandboxServer, attendee_site: SandboxServer
) -> None:
    ports = [free_port() for _ in range(2)]
    with start_presenter(server, presenter_site, "welcome-tour", ports[0]) as presenter:
        driver = attach(playwright, ports[0])
        click_step(driver, "show-me", "open-menu")
        presenter.wait_for(lambda line: line.startswith("> show_me button"))
        with start_attendee(
            server, code_of(presenter), attendee_site, "guided", "Late", ports[1]
        ) as late:
            assert any(
                "welcome-tour" in line for line in late.seen if line.startswith("Opened guide")
            )
            click_step(driver, "do-it", "open-menu")
            assert "ok: highlight" in wait_result(late, "do_it", "open-menu")
            late.write("mode follow")
            late.wait_for(lambda line: line == "Mode: follow")
            presenter.wait_for(lambda line: line == "~ Late: mode changed: follow")
            # Pathfinder treats a repeat of a step within 500 ms as one click: wait past it.
            time.sleep(0.6)
            # A done step offers Redo (as the real panel), then its buttons again.
            driver.locator('[data-testid="interactive-redo-open-menu"]').click()
            click_step(driver, "do-it", "open-menu")  # the attendee now acts
            assert "ok: click" in wait_result(late, "do_it", "open-menu")
            page = attach(playwright, ports[1])
            page.wait_for_selector('[data-testid="data-testid navigation mega-menu"]')
            # Capture is an init script: it survives a full reload of the presenter's tab.
            driver.reload()
            driver.wait_for_selector(".interactive-step")
            time.sleep(0.6)
            click_step(driver, "show-me", "open-menu")
            assert "ok: highlight" in wait_result(late, "show_me", "open-menu")


def test_missing_targets_and_hostile_events_are_refused(
    playwright: Playwright, server: str, attendee_site: SandboxServer
) -> None:
    port = free_port()
    with CliProcess(
        "present",
        "--no-browser",
        "--server",
        server,
        "--guide",
        attendee_site.guide_url("welcome-tour"),
        stdin=True,
    ) as presenter:
        code = presenter.wait_for(lambda line: line.startswith("Join code: ")).removeprefix(
            "Join code: "
        )
        with start_attendee(server, code, attendee_site, "follow", "Finn", port) as finn:
            page = attach(playwright, port)
            home = page.url

            def send(step: str, action: dict[str, object], kind: str = "do_it") -> str:
                presenter.write(json.dumps({"type": kind, "stepId": step, "action": action}))
                return wait_result(finn, kind, step)

            # While the docs panel shows the guide, only its steps are replayed.
            assert "refused: not a step of your guide" in send(
                "missing", {"targetAction": "highlight", "refTarget": "#does-not-exist"}
            )
            # With the panel closed, every event is checked on its own.
            page.evaluate("() => window.pathfinderPanel.toggle()")
            assert "element not found" in send(
                "absent", {"targetAction": "highlight", "refTarget": "#does-not-exist"}
            )
            presenter.wait_for(
                lambda line: line.startswith(
                    "= Finn: failed: click #does-not-exist: element not found"
                )
            )
            assert "refused: navigation to https://evil.example leaves this Grafana" in send(
                "evil", {"targetAction": "navigate", "refTarget": "https://evil.example/phish"}
            )
            assert "refused: javascript: URLs are never opened" in send(
                "script",
                {"targetAction": "navigate", "refTarget": "javascript:document.title='owned'"},
            )
            assert "refused: data: URLs are never opened" in send(
                "data",
                {
                    "targetAction": "multistep",
                    "refTarget": "",
                    "internalActions": [
                        {
                            "targetAction": "navigate",
                            "refTarget": "data:text/html,<script>alert(1)</script>",
                        }
                    ],
                },
            )
            assert "refused: value of 20000 characters" in send(
                "huge",
                {"targetAction": "formfill", "refTarget": "input", "targetValue": "x" * 20_000},
            )
            assert "refusing to act on an ambiguous target" in send(
                "many",
                {
                    "targetAction": "highlight",
                    "refTarget": "div, span, button, li, a, h1, p, label, section",
                },
            )
            # Nothing happened to the attendee's own Grafana, and it still replays good events.
            assert page.url == home and page.title() != "owned"
            assert "ok: navigate to /explore" in send(
                "fine", {"targetAction": "navigate", "refTarget": "/explore"}
            )
            page.wait_for_url(attendee_site.url + "/explore")
            # An oversized event never leaves the presenter: it fails the same limits attendees apply.
            presenter.write(
                json.dumps(
                    {
                        "type": "show_me",
                        "stepId": "big",
                        "action": {"targetAction": "highlight", "refTarget": "x" * 70_000},
                    }
                )
            )
            assert presenter.wait_for_stderr("show_me.action.refTarget: longer than 4096")


def test_demo_runs_every_guide() -> None:
    for guide in ("welcome-tour", "first-dashboard", "connect-datasource"):
        with CliProcess("demo", "--guide", guide, "--pause", "0.1") as demo:
            assert demo.process.wait(120) == 0, demo.stderr[-2000:]
            lines = []
            while (line := demo.lines.get()) is not None:
                lines.append(line)
        summary = [line for line in lines if "replays ok" in line]
        assert len(summary) == 2, lines[-10:]
        for line in summary:
            done, total = line.split(": ")[1].split(" ")[0].split("/")
            assert done == total and int(total) > 0, [x for x in lines if "failed" in x]


def test_presenter_signs_in_and_shows_the_attendee_table(
    playwright: Playwright, server: str
) -> None:
    port = free_port()
    with (
        SandboxServer(SandboxSettings(require_login=True)) as site,
        CliProcess(
            "present",
            "--grafana",
            site.url,
            "--guide",
            site.guide_url("grafana-shell"),
            "--server",
            server,
            "--headless",
            "--remote-debugging-port",
            str(port),
            "--allow-remote-debugging-with-login",  # the test is the tool that attaches
            "--user",
            "admin",
            "--password",
            "admin",
            "--status-interval",
            "0.5",
        ) as presenter,
    ):
        code = presenter.wait_for(lambda line: line.startswith("Join code: ")).removeprefix(
            "Join code: "
        )
        driver = attach(playwright, port)
        assert "/login" not in driver.url  # signed in, then the guide opened
        with CliProcess("follow", code, "--no-browser", "--name", "Finn", "--server", server):
            presenter.wait_for(lambda line: line == "+ Finn joined (guided mode)")
            presenter.wait_for(lambda line: line == "Attendees (1):")
            row = presenter.wait_for(lambda line: line.strip().startswith("Finn"))
            assert "guided" in row and "connected" in row
            click_step(driver, "show-me", "help")
            presenter.wait_for(
                lambda line: line.startswith("> show_me highlight \"button[aria-label='Help']\"")
            )
            assert presenter.process.poll() is None


def test_wrong_password_is_reported(server: str) -> None:
    with (
        SandboxServer(SandboxSettings(require_login=True)) as site,
        CliProcess(
            "present",
            "--grafana",
            site.url,
            "--server",
            server,
            "--headless",
            "--user",
            "admin",
            "--password",
            "nope",
        ) as presenter,
    ):
        assert presenter.process.wait(60) == 1
    assert "signing in to Grafana failed: check --user and --password" in presenter.stderr
    assert "Traceback" not in presenter.stderr
