"""The sandbox's login over HTTP, as Grafana answers: redirects to /login, 401 from the APIs,
an HttpOnly session cookie from POST /login, Bearer service-account tokens."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT

TOKEN = "glsa_integration_token"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def call(
    url: str, *, data: object = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=5 * UNIT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def site() -> Iterator[SandboxServer]:
    settings = SandboxSettings(require_login=True, service_account_token=TOKEN)
    with SandboxServer(settings) as running:
        yield running


def test_pages_redirect_and_apis_refuse_without_a_login(site: SandboxServer) -> None:
    status, headers, _ = call(f"{site.url}/dashboards?orgId=1")
    assert status == 302 and headers["Location"] == "/login?redirect=%2Fdashboards%3ForgId%3D1"
    assert call(f"{site.url}/api/guides")[0] == 401
    assert call(f"{site.url}/api/user")[0] == 401
    assert call(f"{site.url}/login")[0] == 200
    assert call(f"{site.url}/static/app.js")[0] == 200
    status, _, body = call(f"{site.url}/api/health")
    assert status == 200 and json.loads(body)["version"] == "12.0.0"


def test_password_login_sets_an_http_only_session(site: SandboxServer) -> None:
    assert call(f"{site.url}/login", data={"user": "admin", "password": "x"})[0] == 401
    assert call(f"{site.url}/login", data=["admin"])[0] == 400
    status, headers, _ = call(f"{site.url}/login", data={"user": "admin", "password": "admin"})
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("grafana_session=") and "HttpOnly" in cookie
    session = cookie.split(";", 1)[0]
    status, _, body = call(f"{site.url}/api/user", headers={"Cookie": session})
    assert status == 200 and json.loads(body)["login"] == "admin"
    assert call(f"{site.url}/dashboards", headers={"Cookie": session})[0] == 200
    status, _, _ = call(f"{site.url}/logout", headers={"Cookie": session})
    assert status == 302
    assert call(f"{site.url}/api/user", headers={"Cookie": session})[0] == 401


def test_service_account_token_as_bearer(site: SandboxServer) -> None:
    status, _, body = call(f"{site.url}/api/user", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and json.loads(body)["login"] == "sa-pathfinder-bridge"
    assert call(f"{site.url}/api/guides", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert call(f"{site.url}/api/guides", headers={"Authorization": "Bearer nope"})[0] == 401


def test_without_require_login_anonymous_is_not_a_user() -> None:
    with SandboxServer(SandboxSettings()) as open_site:
        assert call(f"{open_site.url}/dashboards")[0] == 200
        assert call(f"{open_site.url}/api/user")[0] == 401
