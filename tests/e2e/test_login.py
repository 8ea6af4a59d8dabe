"""Real logins on the sandbox with --require-login, as a user runs them: `login` saves the state
after a person signs in (driven here through --remote-debugging-port, as another tool would),
`present` and `follow` reuse it; expired, foreign and unreadable states, and wrong tokens, stop
with what to do; a service-account token reaches the Grafana origin and nothing else."""

from __future__ import annotations

import contextlib
import http.server
import json
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright

from bridge.browser.contract import grafana_selectors
from bridge.protocol.joincode import JoinCode
from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT
from tests.servers import CliProcess, free_port

LOGIN = grafana_selectors("12.0.0")
ANY_CODE = JoinCode("abc123", "x", "", "").encode()


@dataclass(frozen=True)
class SavedLogin:
    site: SandboxServer
    path: Path
    cookie_value: str


def attach(playwright: Playwright, port: int) -> Page:
    browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
    return browser.contexts[0].pages[0]


def sign_in_as_a_person(page: Page, user: str, password: str) -> None:
    page.locator(LOGIN.css("pages.Login.username")).fill(user, timeout=10_000 * UNIT)
    page.locator(LOGIN.css("pages.Login.password")).fill(password)
    page.locator(LOGIN.css("pages.Login.submit")).click()


@pytest.fixture(scope="module")
def saved(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SavedLogin]:
    """`pathfinder-bridge login`, with a person signing in through the login form."""
    path = tmp_path_factory.mktemp("login") / "grafana-login.json"
    port = free_port()
    with SandboxServer(SandboxSettings(require_login=True)) as site:
        with CliProcess(
            "login", "--grafana", site.url, "--save", str(path),
            "--headless", "--remote-debugging-port", str(port),
        ) as login:  # fmt: skip
            login.wait_for(lambda line: line.startswith("Sign in to "))
            page = attach(playwright, port)
            sign_in_as_a_person(page, "admin", "wrong")  # a typo first, as people do
            page.get_by_text("Invalid username or password").wait_for(timeout=10_000 * UNIT)
            sign_in_as_a_person(page, "admin", "admin")
            done = login.wait_for(lambda line: line.startswith("Signed in to "), 30 * UNIT)
            assert done == f"Signed in to {site.url} as admin; login saved to {path} (mode 0600)"
            assert login.process.wait(15 * UNIT) == 0
        data = json.loads(path.read_text())
        (cookie,) = data["cookies"]
        yield SavedLogin(site, path, cookie["value"])


def test_login_saves_only_grafana_cookies_with_mode_0600(saved: SavedLogin) -> None:
    assert stat.S_IMODE(saved.path.stat().st_mode) == 0o600
    data = json.loads(saved.path.read_text())
    assert [(c["name"], c["domain"], c["httpOnly"]) for c in data["cookies"]] == [
        ("grafana_session", "127.0.0.1", True)
    ]
    assert all(o["origin"] == saved.site.url for o in data["origins"])


def test_present_reuses_the_saved_login(
    playwright: Playwright, saved: SavedLogin, server: str
) -> None:
    port = free_port()
    with CliProcess(
        "present", "--grafana", saved.site.url, "--guide", saved.site.guide_url("grafana-shell"),
        "--server", server, "--headless", "--remote-debugging-port", str(port),
        "--allow-remote-debugging-with-login", "--storage-state", str(saved.path), "-v",
    ) as presenter:  # fmt: skip
        line = presenter.wait_for(lambda line: line.startswith("Grafana login: "))
        assert line == f"Grafana login: saved login {saved.path}, signed in as admin"
        presenter.wait_for(lambda line: line.startswith("Join code: "))
        page = attach(playwright, port)
        page.locator(".interactive-step").first.wait_for(timeout=10_000 * UNIT)
        assert "/login" not in page.url
        assert presenter.stop() == 0
    assert saved.cookie_value not in "\n".join(presenter.seen) + presenter.stderr


def follow_with_login(
    site_url: str, server: str, *flags: str, env: dict[str, str] | None = None
) -> CliProcess:
    follower = CliProcess(
        "follow", ANY_CODE, "--grafana", site_url, "--server", server, "--headless", *flags,
        env=env,
    )  # fmt: skip
    assert follower.process.wait(30 * UNIT) == 1
    assert "Traceback" not in follower.stderr
    return follower


def test_expired_state_says_when_and_what_to_do(
    saved: SavedLogin, server: str, tmp_path: Path
) -> None:
    expired = tmp_path / "expired.json"
    data = json.loads(saved.path.read_text())
    data["cookies"][0]["expires"] = 1_000_000_000
    expired.write_text(json.dumps(data))
    follower = follow_with_login(saved.site.url, server, "--storage-state", str(expired))
    assert (
        f"the login saved in {expired} expired at 2001-09-09 01:46:40 UTC; sign in again: "
        f"pathfinder-bridge login --grafana {saved.site.url} --save {expired}"
    ) in follower.stderr


def test_foreign_state_is_refused_by_another_grafana(saved: SavedLogin, server: str) -> None:
    # Same host, another sandbox: the browser sends the cookie, that Grafana never issued it.
    with SandboxServer(SandboxSettings(require_login=True)) as other:
        other_url = other.url
        follower = follow_with_login(other_url, server, "--storage-state", str(saved.path))
    assert (
        f"Grafana at {other_url} does not accept the login saved in {saved.path} (it expired, "
        "was signed out, or belongs to another Grafana)"
    ) in follower.stderr


def test_state_for_another_host_names_both(saved: SavedLogin, server: str) -> None:
    localhost = saved.site.url.replace("127.0.0.1", "localhost")
    follower = follow_with_login(localhost, server, "--storage-state", str(saved.path))
    assert (
        f"{saved.path} holds no login for localhost (it was saved for 127.0.0.1)"
    ) in follower.stderr


def test_unreadable_states_are_clear_errors(saved: SavedLogin, server: str, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"cookies": [{"name": 1}]}')
    follower = follow_with_login(saved.site.url, server, "--storage-state", str(garbage))
    assert f"{garbage} is not a saved login (Playwright storage-state JSON)" in follower.stderr
    missing = tmp_path / "missing.json"
    follower = follow_with_login(saved.site.url, server, "--storage-state", str(missing))
    assert f"cannot read the saved login {missing}: No such file or directory" in follower.stderr


def test_login_refuses_to_wait_without_a_window(tmp_path: Path) -> None:
    with CliProcess(
        "login", "--grafana", "http://127.0.0.1:9", "--save", str(tmp_path / "x.json"),
        "--headless",
    ) as login:  # fmt: skip
        assert login.process.wait(30 * UNIT) == 1
    assert "login needs a browser window to sign in in" in login.stderr
    assert not (tmp_path / "x.json").exists()


@contextlib.contextmanager
def header_recorder() -> Iterator[tuple[str, list[str | None]]]:
    """Another origin the page talks to; records the Authorization header of each request."""
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_token_goes_to_the_grafana_origin_only(playwright: Playwright, server: str) -> None:
    token = f"glsa_{secrets.token_hex(16)}"
    port = free_port()
    settings = SandboxSettings(require_login=True, service_account_token=token)
    with (
        SandboxServer(settings) as site,
        header_recorder() as (other, seen),
        CliProcess(
            "present", "--no-browser", "--server", server,
            "--guide", site.guide_url("grafana-shell"), stdin=True,
        ) as presenter,
    ):  # fmt: skip
        code = presenter.wait_for(lambda line: line.startswith("Join code: "))
        with CliProcess(
            "follow", code.removeprefix("Join code: "), "--grafana", site.url, "--server", server,
            "--headless", "--remote-debugging-port", str(port),
            "--allow-remote-debugging-with-login", "-v", env={"GRAFANA_TOKEN": token},
        ) as follower:  # fmt: skip
            line = follower.wait_for(lambda line: line.startswith("Grafana login: "))
            assert line == (
                "Grafana login: service-account token from GRAFANA_TOKEN, "
                "signed in as sa-pathfinder-bridge"
            )
            follower.wait_for(lambda line: line.startswith("Opened guide "))
            page = attach(playwright, port)
            page.locator(".interactive-step").first.wait_for(timeout=10_000 * UNIT)
            assert "/login" not in page.url
            status = page.evaluate(
                """async ([grafana, other]) => {
                    const user = await fetch(grafana + "/api/user");
                    await fetch(other + "/elsewhere");
                    return user.status;
                }""",
                [site.url, other],
            )
            assert status == 200  # the page's own API call carried the token...
            assert seen == [None]  # ...and the request to another origin did not
            assert follower.stop() == 0
        assert presenter.stop() == 0
    assert token not in "\n".join(follower.seen) + follower.stderr


def test_wrong_token_and_two_logins_are_refused(saved: SavedLogin, server: str) -> None:
    follower = follow_with_login(saved.site.url, server, "--token", "glsa_not_this_one")
    assert (
        f"Grafana at {saved.site.url} does not accept the service-account token from --token"
    ) in follower.stderr
    assert "glsa_not_this_one" not in follower.stderr
    follower = follow_with_login(
        saved.site.url, server, "--token", "x", "--storage-state", str(saved.path)
    )
    assert "give one way to sign in to Grafana, not --storage-state and --token" in follower.stderr
