"""Fault injection with real processes over loopback: kill -9 the signaling server, the presenter,
an attendee; the session survives what the issue says it must."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from bridge.protocol.joincode import JoinCode
from tests.conftest import UNIT
from tests.servers import CliProcess, free_port, wait_http

# Fast heartbeats and reconnects so faults are noticed in seconds, not Pathfinder's 15 s.
FAST_RECONNECT = {
    "PATHFINDER_BRIDGE_CLIENT_RECONNECT_INITIAL": "0.2",
    "PATHFINDER_BRIDGE_CLIENT_RECONNECT_MAX": "1",
    "PATHFINDER_BRIDGE_CLIENT_HEARTBEAT_INTERVAL": "0.5",
    "PATHFINDER_BRIDGE_CLIENT_PRESENTER_SILENCE_TIMEOUT": "2",
}


def show(step: str) -> str:
    return json.dumps(
        {
            "type": "show_me",
            "stepId": step,
            "action": {"targetAction": "highlight", "refTarget": f"#{step}"},
        }
    )


def next_event(process: CliProcess, step: str) -> dict[str, object]:
    line = process.wait_for(
        lambda text: text.startswith("{") and json.loads(text).get("stepId") == step
    )
    return dict(json.loads(line))


def start_server(port: int) -> CliProcess:
    server = CliProcess("signal", "--port", str(port))
    wait_http(f"http://127.0.0.1:{port}/pathfinder/")
    return server


def test_kill_9_signaling_server_mid_session() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/pathfinder"
    server = start_server(port)
    try:
        with CliProcess("present", "--no-browser", "--server", url, stdin=True) as presenter:
            code = presenter.wait_for(lambda line: line.startswith("Join code: ")).removeprefix(
                "Join code: "
            )
            with CliProcess("follow", code, "--no-browser", "--json", "--server", url) as first:
                presenter.wait_for(lambda line: line.startswith("+ "))
                server.process.send_signal(signal.SIGKILL)
                server.process.wait(10 * UNIT)
                presenter.write(show("while-down"))  # open data channels do not need the server
                assert next_event(first, "while-down")["type"] == "show_me"
                server = start_server(port)
                with CliProcess(
                    "follow",
                    code,
                    "--no-browser",
                    "--json",
                    "--server",
                    url,
                    env={"PATHFINDER_BRIDGE_CLIENT_CONNECT_TIMEOUT": "20"},
                ) as second:
                    # Well within 10 s of the restart (the README's claim), on a UNIT scale.
                    second.wait_for(lambda line: '"session_start"' in line, timeout=10 * UNIT)
                    presenter.write(show("after"))
                    assert next_event(second, "after")["stepId"] == "after"
                    assert next_event(first, "after")["stepId"] == "after"
    finally:
        server.stop(signal.SIGKILL)


def test_presenter_killed_and_restarted_with_its_session_file(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/pathfinder"
    session_file = tmp_path / "session.json"

    def present() -> CliProcess:  # the same presenter, before and after its restart
        return CliProcess(
            "present",
            "--no-browser",
            "--server",
            url,
            "--session-file",
            str(session_file),
            stdin=True,
            env=FAST_RECONNECT,
        )

    server = start_server(port)
    try:
        presenter = present()
        code = presenter.wait_for(lambda line: line.startswith("Join code: ")).removeprefix(
            "Join code: "
        )
        assert oct(session_file.stat().st_mode & 0o777) == "0o600"
        with CliProcess(
            "follow", code, "--no-browser", "--json", "-v", "--server", url, env=FAST_RECONNECT
        ) as attendee:
            presenter.wait_for(lambda line: line.startswith("+ "))
            presenter.write(show("one"))
            next_event(attendee, "one")
            presenter.process.send_signal(signal.SIGKILL)
            presenter.process.wait(10 * UNIT)
            assert attendee.wait_for_stderr("Presenter disconnected, waiting"), attendee.stderr[
                -3000:
            ]
            with present() as again:
                again_code = again.wait_for(
                    lambda line: line.startswith("Join code: ")
                ).removeprefix("Join code: ")
                assert JoinCode.parse(again_code).id == JoinCode.parse(code).id
                assert JoinCode.parse(again_code).pubkey == JoinCode.parse(code).pubkey
                again.wait_for(lambda line: line.startswith("+ "), timeout=20 * UNIT)
                again.write(show("two"))
                assert next_event(attendee, "two")["stepId"] == "two"
                assert "Reconnected" in attendee.stderr
    finally:
        server.stop(signal.SIGKILL)


def test_restarted_attendee_rejoins_with_the_same_code() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/pathfinder"
    server = start_server(port)
    try:
        with CliProcess(
            "present", "--no-browser", "--server", url, stdin=True, env=FAST_RECONNECT
        ) as presenter:
            code = presenter.wait_for(lambda line: line.startswith("Join code: ")).removeprefix(
                "Join code: "
            )
            first = CliProcess(
                "follow", code, "--no-browser", "--json", "--name", "Ada", "--server", url
            )
            presenter.wait_for(lambda line: line == "+ Ada joined (guided mode)")
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait(10 * UNIT)
            presenter.wait_for(lambda line: line == "- Ada left", timeout=30 * UNIT)
            with CliProcess(
                "follow", code, "--no-browser", "--json", "--name", "Ada", "--server", url
            ) as second:
                presenter.wait_for(lambda line: line == "+ Ada joined (guided mode)")
                presenter.write(show("hello"))
                assert next_event(second, "hello")["stepId"] == "hello"
    finally:
        server.stop(signal.SIGKILL)
