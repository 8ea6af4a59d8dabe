"""Live Sessions between our CLI and a Pathfinder-like browser peer (stock PeerJS, WebCrypto).

Both directions: a browser attendee joins `pathfinder-bridge present --no-browser` by its
join code, and `pathfinder-bridge follow CODE --no-browser --json` joins a browser presenter.
Each runs through our signaling server and through npm `peer`.
"""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import peer_options
from tests.servers import CliProcess

pytestmark = pytest.mark.interop

SHOW_ME = {
    "type": "show_me",
    "stepId": "step-1",
    "action": {
        "targetAction": "highlight",
        "refTarget": "a[data-testid='data-testid Nav menu item'][href='/dashboards']",
        "targetComment": "Dashboards live here",
    },
    "coordinates": {"x": 12, "y": 40},
}
DO_IT = {
    "type": "do_it",
    "stepId": "step-2",
    "action": {
        "targetAction": "multistep",
        "refTarget": "",
        "internalActions": [
            {"targetAction": "button", "refTarget": "New"},
            {"targetAction": "formfill", "refTarget": "input[name='title']", "targetValue": "CPU"},
        ],
    },
}


def wait_until(page: Page, expression: str, timeout: float = 15.0) -> object:
    page.wait_for_function(expression, timeout=timeout * 1000)
    return page.evaluate(expression)


def test_browser_attendee_joins_python_presenter(
    page: Page, page_origin: str, signaling_url: str
) -> None:
    with CliProcess(
        "present",
        "--no-browser",
        "--server",
        signaling_url,
        "--name",
        "Interop",
        "--guide",
        "https://grafana.com/docs/learning-journeys/x/",
        stdin=True,
    ) as presenter:
        code = presenter.wait_for(lambda line: line.startswith("Join code: ")).split(": ", 1)[1]
        presenter.wait_for(lambda line: line.startswith("Join URL: "))
        page.goto(f"{page_origin}/live.html")
        peer_id = page.evaluate(
            "([c, o]) => live.join(c, o, 'Browser', 'follow')", [code, peer_options(signaling_url)]
        )
        assert peer_id
        presenter.wait_for(lambda line: line == "+ Browser joined (follow mode)")
        start = wait_until(page, "live.events.find(e => e.type === 'session_start')")
        assert start["config"]["name"] == "Interop"  # type: ignore[index]
        presenter.write(json.dumps(SHOW_ME))
        presenter.write(json.dumps(DO_IT))
        wait_until(
            page, "live.events.filter(e => e.type === 'show_me' || e.type === 'do_it').length === 2"
        )
        show, do = page.evaluate(
            "live.events.filter(e => e.type === 'show_me' || e.type === 'do_it')"
        )
        assert show["action"] == SHOW_ME["action"] and show["stepId"] == "step-1"
        assert (
            show["senderId"] == "presenter"
            and show["sessionId"]
            and show["coordinates"] == {"x": 12, "y": 40}
        )
        assert do["action"]["internalActions"][1]["targetValue"] == "CPU"
        page.evaluate("live.report('error', 'element not found')")
        presenter.wait_for(lambda line: "= Browser: failed: element not found" in line)
        assert presenter.stop() == 0
        wait_until(page, "live.events.some(e => e.type === 'session_end')")
        assert page.evaluate("live.log") == []


def test_python_attendee_joins_browser_presenter(
    page: Page, page_origin: str, signaling_url: str
) -> None:
    page.goto(f"{page_origin}/live.html")
    code = page.evaluate(
        "(o) => live.present(o, 'Browser session', 'https://grafana.com/docs/x/')",
        peer_options(signaling_url),
    )
    with CliProcess(
        "follow",
        code,
        "--no-browser",
        "--json",
        "--name",
        "Py",
        "--mode",
        "follow",
        "--server",
        signaling_url,
    ) as attendee:
        first = json.loads(attendee.wait_for(lambda line: line.startswith("{")))
        assert first["type"] == "session_start" and first["config"]["name"] == "Browser session"
        assert page.evaluate("live.attendees.map(a => [a.name, a.mode])") == [["Py", "follow"]]
        assert page.evaluate("live.broadcast(e)".replace("e)", json.dumps(SHOW_ME) + ")")) == 1
        page.evaluate(f"live.broadcast({json.dumps(DO_IT)})")
        events = [
            json.loads(attendee.wait_for(lambda line: line.startswith("{"))) for _ in range(2)
        ]
        assert [e["type"] for e in events] == ["show_me", "do_it"]
        assert events[0]["action"] == SHOW_ME["action"]
        assert events[1]["action"]["internalActions"][0] == {
            "targetAction": "button",
            "refTarget": "New",
        }
        page.evaluate("live.broadcast({type: 'session_end', reason: 'bye'})")
        end = json.loads(attendee.wait_for(lambda line: line.startswith("{")))
        assert end == {**end, "type": "session_end", "reason": "bye"}
        deadline = time.monotonic() + 10
        while attendee.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert attendee.process.returncode == 0
        assert "Session ended: bye" in attendee.stderr


def test_follow_with_a_bad_code_says_what_to_do() -> None:
    with CliProcess("follow", "definitely-not-a-code", "--no-browser") as attendee:
        assert attendee.process.wait(20) == 1
    assert "not a Pathfinder join code" in attendee.stderr and "Traceback" not in attendee.stderr
