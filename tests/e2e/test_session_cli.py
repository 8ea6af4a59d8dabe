"""`present --no-browser` and `follow --no-browser` run as a user runs them."""

from __future__ import annotations

import json

from bridge.protocol.joincode import JoinCode
from tests.conftest import UNIT
from tests.servers import CliProcess

SHOW_ME = {
    "type": "show_me",
    "stepId": "s1",
    "action": {"targetAction": "highlight", "refTarget": "#panel"},
}


def test_present_and_follow_json(server: str) -> None:
    with CliProcess(
        "present",
        "--no-browser",
        "--server",
        server,
        "--guide",
        "https://grafana.com/docs/g/",
        "--grafana",
        "http://127.0.0.1:3000",
        "--status-interval",
        "0.3",
        stdin=True,
    ) as presenter:
        code_line = presenter.wait_for(lambda line: line.startswith("Join code: "))
        url_line = presenter.wait_for(lambda line: line.startswith("Join URL: "))
        code = code_line.removeprefix("Join code: ")
        assert JoinCode.parse(code).url == "https://grafana.com/docs/g/"
        assert url_line.startswith(
            "Join URL: http://127.0.0.1:3000/a/grafana-grafanadocsplugin-app?session="
        )
        with CliProcess(
            "follow", code, "--no-browser", "--json", "--name", "Ada", "--server", server
        ) as follower:
            assert json.loads(follower.wait_for(lambda line: True))["type"] == "session_start"
            presenter.wait_for(lambda line: line == "+ Ada joined (guided mode)")
            presenter.wait_for(lambda line: line == "Attendees (1):")  # the live table
            assert "Ada" in presenter.wait_for(lambda line: "guided" in line)
            presenter.write(json.dumps(SHOW_ME))
            presenter.write("{not json")
            presenter.write(
                json.dumps(
                    {"type": "show_me", "action": {"targetAction": "eval", "refTarget": "x"}}
                )
            )
            presenter.wait_for(
                lambda line: line.startswith(
                    "> show_me highlight '#panel' (step s1) (to 1 attendee)"
                )
            )
            lines = []
            while len(lines) < 1 or lines[-1]["type"] != "show_me":
                lines.append(json.loads(follower.wait_for(lambda line: True)))
            assert lines[-1]["action"] == {"targetAction": "highlight", "refTarget": "#panel"}
            # Read before stopping: the presenter may not have reached line 3 yet.
            assert presenter.wait_for_stderr("ignored input line 2: not JSON")
            assert presenter.wait_for_stderr(
                "ignored input line 3: show_me.action.targetAction: must be one of"
            )
            assert presenter.stop() == 0
            assert follower.process.wait(15 * UNIT) == 0
        assert "Traceback" not in presenter.stderr + follower.stderr
        assert "Session ended: The presenter ended the session" in follower.stderr


def test_follow_human_output(server: str) -> None:
    with CliProcess(
        "present", "--no-browser", "--server", server, "--name", "Human", stdin=True
    ) as presenter:
        code = presenter.wait_for(lambda line: line.startswith("Join code: ")).removeprefix(
            "Join code: "
        )
        with CliProcess(
            "follow", code, "--no-browser", "--server", server, "--mode", "follow"
        ) as follower:
            assert follower.wait_for(lambda line: line.startswith("Joined session")).endswith(
                "(follow mode)"
            )
            follower.wait_for(lambda line: line.startswith("session_start 'Human'"))
            presenter.write(json.dumps(SHOW_ME))
            follower.wait_for(lambda line: line == "show_me highlight '#panel' (step s1)")
            presenter.stop()
            follower.wait_for(lambda line: line.startswith("Session ended"))


def test_present_without_browser_prints_the_attendee_table(server: str) -> None:
    with CliProcess(
        "present", "--no-browser", "--server", server, "--status-interval", "0.2", stdin=True
    ) as presenter:
        code = presenter.wait_for(lambda line: line.startswith("Join code: "))
        with CliProcess(
            "follow",
            code.removeprefix("Join code: "),
            "--no-browser",
            "--name",
            "Tabled",
            "--mode",
            "follow",
            "--server",
            server,
        ) as follower:
            presenter.wait_for(lambda line: line == "Attendees (1):")
            assert presenter.wait_for(lambda line: True).split() == [
                "name",
                "mode",
                "state",
                "latency",
                "quality",
                "last",
                "replay",
            ]
            row = presenter.wait_for(lambda line: True).split()
            assert row[:3] == ["Tabled", "follow", "connected"]
            assert follower.stop() == 0
        presenter.wait_for(lambda line: line == "- Tabled left")
        assert presenter.stop() == 0


def test_status_interval_must_be_positive() -> None:
    with CliProcess("present", "--no-browser", "--status-interval", "0") as presenter:
        assert presenter.process.wait(30) == 2
    assert "--status-interval: must be more than 0 seconds, got 0" in presenter.stderr


def test_follow_unknown_session(server: str) -> None:
    code = JoinCode("zzzzzz", "x", "", "").encode()
    with CliProcess("follow", code, "--no-browser", "--server", server) as follower:
        assert follower.process.wait(30) == 1
    assert "no session 'zzzzzz' on the signaling server" in follower.stderr


def test_unreachable_server(server: str) -> None:
    with CliProcess(
        "present", "--no-browser", "--server", "http://127.0.0.1:9/pathfinder"
    ) as presenter:
        assert presenter.process.wait(30) == 1
    assert "cannot reach the signaling server at http://127.0.0.1:9/pathfinder" in presenter.stderr
    assert "Traceback" not in presenter.stderr


def test_bad_server_url() -> None:
    with CliProcess("follow", "abc123", "--no-browser", "--server", "ftp://x") as follower:
        assert follower.process.wait(30) == 1
    assert "client.server_url: must look like http://HOST:PORT/PATH" in follower.stderr


def test_follow_with_a_bad_code_says_what_to_do() -> None:
    with CliProcess("follow", "definitely-not-a-code", "--no-browser") as attendee:
        assert attendee.process.wait(20) == 1
    assert "not a Pathfinder join code" in attendee.stderr and "Traceback" not in attendee.stderr
