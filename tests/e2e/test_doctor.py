"""`pathfinder-bridge doctor` as a user runs it, against a healthy setup (our signaling server, a
sandbox with --require-login and a token, a presenter, coturn) and against broken ones: server
down, wrong path and key, Chromium missing, Grafana down, no login, Chromium's Local Network
Access block (the sandbox's address space overridden to public), an unknown session, an
impostor's code, an unreadable code, STUN silent and TURN credentials wrong."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.config import BrowserConfig
from bridge.protocol.crypto import PresenterKey
from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT
from tests.servers import ROOT, CliProcess, bridge_command, coturn, free_port, our_signaling_server

TOKEN = "glsa_doctor_test_token"
CHECK_IDS = ["signaling", "chromium", "grafana", "grafana-login", "page", "presenter", "ice"]


@dataclass(frozen=True)
class Setup:
    server: str
    site: SandboxServer
    turn_port: int
    presenter: CliProcess
    code: str
    folder: Path

    def config(self, name: str, data: dict[str, Any]) -> str:
        path = self.folder / name
        path.write_text(json.dumps(data))  # JSON is YAML
        return str(path)


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bridge_command("doctor", *args),
        cwd=ROOT,
        env={**os.environ, "GRAFANA_TOKEN": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120 * UNIT,
    )


def checks_of(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    report = json.loads(result.stdout)
    assert [c["id"] for c in report["checks"]] == CHECK_IDS
    assert report["ok"] is (result.returncode == 0)
    return {c["id"]: c for c in report["checks"]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    settings = SandboxSettings(require_login=True, service_account_token=TOKEN)
    with (
        our_signaling_server(None, "--expire-timeout", "1") as server,
        SandboxServer(settings) as site,
        coturn() as turn_port,
        CliProcess(
            "present", "--no-browser", "--server", server, "--name", "Doctor visit",
            "--guide", site.guide_url("first-dashboard"), stdin=True,
        ) as presenter,
    ):  # fmt: skip
        code = presenter.wait_for(lambda line: line.startswith("Join code: "))
        yield Setup(
            server, site, turn_port, presenter, code.removeprefix("Join code: "),
            tmp_path_factory.mktemp("doctor"),
        )  # fmt: skip


def ice(port: int, credential: str) -> list[dict[str, Any]]:
    return [
        {"urls": [f"stun:127.0.0.1:{port}"]},
        {
            "urls": [
                f"turn:127.0.0.1:{port}?transport=udp",
                f"turn:127.0.0.1:{port}?transport=tcp",
            ],
            "username": "workshop",
            "credential": credential,
        },
    ]


def test_healthy_setup_passes_every_check(setup: Setup) -> None:
    config = setup.config(
        "healthy.yaml", {"client": {"ice_servers": ice(setup.turn_port, "secret")}}
    )
    result = doctor(
        "--config", config, "--server", setup.server, "--grafana", setup.site.url, setup.code,
        "--json", env={"GRAFANA_TOKEN": TOKEN},
    )  # fmt: skip
    checks = checks_of(result)
    assert {c["status"] for c in checks.values()} == {"ok"}, result.stdout
    assert result.returncode == 0
    assert "discovery off" in checks["signaling"]["summary"]
    assert checks["grafana"]["summary"].startswith(f"Grafana 12.0.0 at {setup.site.url}")
    assert checks["grafana"]["summary"].endswith("selector table 12.0.0")
    assert checks["grafana-login"]["summary"] == (
        "service-account token from GRAFANA_TOKEN: signed in as sa-pathfinder-bridge"
    )
    assert "secure context with WebCrypto" in checks["page"]["summary"]
    presenter = checks["presenter"]["summary"]
    assert "'Doctor visit' answers" in presenter and "passes the identity check" in presenter
    assert presenter.endswith(f"on guide {setup.site.guide_url('first-dashboard')}")
    assert len(checks["ice"]["details"]) == 3
    stun, turn_udp, turn_tcp = checks["ice"]["details"]
    assert "answers in" in stun and "answers in" in turn_udp  # a STUN Binding round trip
    assert "relay allocated" in turn_udp and "relay allocated" in turn_tcp
    assert checks["ice"]["figures"] and checks["presenter"]["figures"]["verify_ms"] > 0
    # The doctor joined as an attendee and left again.
    setup.presenter.wait_for(lambda line: line == "+ pathfinder-bridge doctor joined (guided mode)")
    setup.presenter.wait_for(lambda line: line == "- pathfinder-bridge doctor left")
    assert TOKEN not in result.stdout + result.stderr


def test_nothing_running_says_what_to_do(setup: Setup) -> None:
    config = setup.config(
        "down.yaml",
        {
            "browser": {"executable_path": str(setup.folder / "no-chromium")},
            "client": {"ice_servers": [{"urls": [f"stun:127.0.0.1:{free_port()}"]}]},
        },
    )
    down = f"http://127.0.0.1:{free_port()}/pathfinder"
    grafana = f"http://127.0.0.1:{free_port()}"
    result = doctor(
        "--config", config, "--server", down, "--grafana", grafana, "not a code!", "--timeout", "1"
    )  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"problem  Signaling server: cannot reach {down}: Connection refused" in lines
    assert "           what to do: start it (pathfinder-bridge signal start), or point --server " \
        "(client.server_url) at the running one: http://HOST:PORT/PATH" in lines  # fmt: skip
    assert any(
        line.startswith("problem  Chromium: ") and "is not an executable file" in line
        for line in lines
    )
    assert (
        f"problem  Grafana: cannot reach Grafana at {grafana}/api/health: Connection refused"
        in lines
    )
    assert "skipped  Grafana login: Grafana is not reachable" in lines
    assert "skipped  Grafana page to signaling server: Chromium does not start" in lines
    assert any(line.startswith("problem  Presenter: ") for line in lines)
    assert "           what to do: paste the join code or the join URL the presenter shows" in lines
    assert "problem  STUN/TURN servers: 1 of 1 do not work" in lines
    assert any("no answer (STUN Binding over UDP)" in line for line in lines)
    assert lines[-1] == "5 problems found."
    assert "Traceback" not in result.stderr


def test_wrong_key_blocked_address_space_no_login_wrong_credentials(setup: Setup) -> None:
    port = setup.site.port
    config = setup.config(
        "blocked.yaml",
        {
            # Chromium treats the sandbox as a public site: its pages may not reach loopback.
            "browser": {"args": [*BrowserConfig().args, f"--ip-address-space-overrides=127.0.0.1:{port}=public"]},
            "client": {"ice_servers": ice(setup.turn_port, "wrong")},
        },
    )  # fmt: skip
    result = doctor(
        "--config", config, "--server", setup.server, "--key", "nope",
        "--grafana", setup.site.url, setup.code, "--json",
    )  # fmt: skip
    checks = checks_of(result)
    assert result.returncode == 1
    status = {name: check["status"] for name, check in checks.items()}
    assert status == {
        "signaling": "problem",
        "chromium": "ok",
        "grafana": "ok",
        "grafana-login": "problem",
        "page": "problem",
        "presenter": "skipped",
        "ice": "problem",
    }
    assert checks["signaling"]["summary"] == f"{setup.server} refuses the key 'nope'"
    assert checks["grafana-login"]["advice"][0].startswith(
        f"Grafana at {setup.site.url} needs a login: save one with `pathfinder-bridge login"
    )
    assert "Local Network Access" in checks["page"]["summary"]
    assert any("loopback" in line for line in checks["page"]["details"])
    assert checks["ice"]["summary"] == "2 of 3 do not work"
    assert checks["ice"]["advice"] == [
        "check username and credential of that TURN server in client.ice_servers"
    ]
    assert "wrong" not in json.dumps(checks["ice"])  # the credential is never shown


def test_wrong_path_is_not_a_peerjs_server(setup: Setup) -> None:
    wrong = setup.server.replace("/pathfinder", "/elsewhere")
    checks = checks_of(doctor("--server", wrong, "--json"))
    assert checks["signaling"]["summary"] == f"{wrong} answers HTTP 404, not as a PeerJS server"


def test_unknown_session(setup: Setup) -> None:
    checks = checks_of(doctor("--server", setup.server, "zzzzzz", "--json"))
    assert checks["presenter"]["status"] == "problem"
    assert checks["presenter"]["summary"] == "no session 'zzzzzz' on this signaling server"


def test_impostor_code_fails_the_identity_check(setup: Setup) -> None:
    data = json.loads(base64.b64decode(setup.code))
    data["pubkey"] = PresenterKey.generate().public_key
    impostor = base64.b64encode(json.dumps(data).encode()).decode()
    checks = checks_of(doctor("--server", setup.server, impostor, "--json"))
    assert checks["presenter"]["status"] == "problem"
    assert checks["presenter"]["summary"].startswith("the presenter failed the identity check")
    assert checks["presenter"]["advice"] == [
        "someone else holds this session id: ask the presenter for a fresh join code"
    ]
