"""GrafanaApi against a real sandbox with --require-login: /api/health, and whom each kind of
login signs in as (or the error that says what to do)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest

from bridge.grafana.api import GrafanaApi, GrafanaUnreachable
from bridge.grafana.login import GrafanaLogin, LoginError, LoginKind, StorageState, choose_login
from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT
from tests.servers import free_port

TOKEN = "glsa_api_test"


@pytest.fixture(scope="module")
def site() -> Iterator[SandboxServer]:
    settings = SandboxSettings(
        require_login=True, service_account_token=TOKEN, grafana_version="11.0.0"
    )
    with SandboxServer(settings) as running:
        yield running


def api(site: SandboxServer) -> GrafanaApi:
    return GrafanaApi(site.url, timeout=5 * UNIT)


def saved_login(site: SandboxServer) -> GrafanaLogin:
    """A session cookie from POST /login, in Playwright's storage-state form."""
    request = urllib.request.Request(
        f"{site.url}/login",
        data=json.dumps({"user": "admin", "password": "admin"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5 * UNIT) as response:
        value = response.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    cookie = {"name": "grafana_session", "value": value, "domain": "127.0.0.1", "path": "/"}
    state = StorageState.from_json(json.dumps({"cookies": [cookie]}), "state.json")
    return GrafanaLogin(LoginKind.SAVED, "state.json", state=state)


async def test_health_without_a_login(site: SandboxServer) -> None:
    health = await api(site).health()
    assert (health.version, health.database) == ("11.0.0", "ok")


async def test_each_login_signs_in(site: SandboxServer) -> None:
    assert await api(site).signed_in_as(choose_login(token=TOKEN, environ={})) == (
        "sa-pathfinder-bridge"
    )
    password = choose_login(user="admin", password="admin", environ={})
    assert await api(site).signed_in_as(password) == "admin"
    assert await api(site).signed_in_as(saved_login(site)) == "admin"


async def test_refusals_say_what_to_do(site: SandboxServer) -> None:
    with pytest.raises(LoginError, match="does not accept the service-account token from --token"):
        await api(site).signed_in_as(choose_login(token="glsa_other", environ={}))
    with pytest.raises(LoginError, match="refused user admin: check --user and --password"):
        await api(site).signed_in_as(choose_login(user="admin", password="no", environ={}))
    with pytest.raises(LoginError, match="needs a login: save one with `pathfinder-bridge login"):
        await api(site).signed_in_as(GrafanaLogin())


async def test_anonymous_access_and_unreachable() -> None:
    with SandboxServer(SandboxSettings()) as open_site:
        assert await api(open_site).signed_in_as(GrafanaLogin()) == "anonymous"
    nothing = GrafanaApi(f"http://127.0.0.1:{free_port()}", timeout=5 * UNIT)
    with pytest.raises(GrafanaUnreachable, match="Connection refused"):
        await nothing.health()
