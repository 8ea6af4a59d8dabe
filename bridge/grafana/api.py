"""The few Grafana HTTP APIs pathfinder-bridge reads, over the standard library: /api/health
(reachable, which version), /api/user (who a login signs in as), POST /login (user and password).

Blocking urllib calls run in a thread with a socket timeout; redirects are not followed, so a
login page answering for a protected one is seen as what it is. Credentials go only where
`GrafanaLogin.headers_for` allows: the Grafana origin.
"""

from __future__ import annotations

import asyncio
import http.cookies
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from bridge.errors import BridgeError
from bridge.grafana.login import GrafanaLogin, LoginKind

#: The longest body read from any answer.
MAX_BODY = 256 * 1024


class GrafanaUnreachable(BridgeError):
    """Nothing that answers like Grafana at that URL."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class GrafanaHealth:
    version: str
    database: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _call(url: str, headers: dict[str, str], timeout: float, data: bytes | None = None) -> Answer:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read(MAX_BODY))
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, dict(exc.headers), exc.read(MAX_BODY))
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        text = getattr(reason, "strerror", None) or str(reason)
        raise GrafanaUnreachable(f"cannot reach Grafana at {url}: {text}") from None


class GrafanaApi:
    """One Grafana's HTTP API; every call gives up after `timeout` seconds of silence."""

    def __init__(self, grafana_url: str, *, timeout: float = 10.0) -> None:
        self.url = grafana_url.rstrip("/")
        self.timeout = timeout

    async def call(
        self, path: str, *, headers: dict[str, str] | None = None, data: bytes | None = None
    ) -> Answer:
        return await asyncio.to_thread(_call, self.url + path, headers or {}, self.timeout, data)

    async def health(self) -> GrafanaHealth:
        """GET /api/health: Grafana answers it without a login, with its version."""
        answer = await self.call("/api/health")
        data = answer.json()
        if answer.status != 200 or not isinstance(data, dict):
            raise GrafanaUnreachable(
                f"{self.url} answers /api/health with HTTP {answer.status}, not as Grafana "
                "does: check the URL (Grafana's root, with any sub-path it is served under)"
            )
        version = data.get("version")
        return GrafanaHealth(
            _printable(version) if isinstance(version, str) else "",
            _printable(data.get("database", "")),
        )

    async def signed_in_as(self, login: GrafanaLogin) -> str:
        """Who `login` signs in to Grafana as (its /api/user login); LoginError when refused.

        With no login: whether Grafana lets an anonymous browser in (its root page answers
        instead of sending it to /login).
        """
        now = time.time()
        if login.kind is LoginKind.NONE:
            answer = await self.call("/")
            if answer.status in (301, 302, 303, 307, 401) or "/login" in answer.headers.get(
                "Location", ""
            ):
                raise login.refused(self.url)
            return "anonymous"
        if login.kind is LoginKind.SAVED:
            assert login.state is not None
            login.state.check_usable(self.url, now, login.source)
        headers = login.headers_for(f"{self.url}/api/user", self.url, now)
        if login.kind is LoginKind.PASSWORD:
            cookie = await self._password_cookie(login)
            if cookie is None:
                raise login.refused(self.url)
            headers = {"Cookie": cookie}
        answer = await self.call("/api/user", headers=headers)
        if answer.status == 401:
            raise login.refused(self.url)
        data = answer.json()
        if answer.status == 200 and isinstance(data, dict) and data.get("login"):
            return _printable(data["login"])
        # 403 and the like: signed in, but this identity may not read /api/user.
        return f"an identity that may not read /api/user (HTTP {answer.status})"

    async def _password_cookie(self, login: GrafanaLogin) -> str | None:
        """POST /login as Grafana's login form does; the session cookie, or None if refused."""
        body = json.dumps({"user": login.user, "password": login.secret}).encode()
        answer = await self.call("/login", headers={"Content-Type": "application/json"}, data=body)
        if answer.status != 200:
            return None
        cookies = http.cookies.SimpleCookie()
        try:
            cookies.load(answer.headers.get("Set-Cookie", ""))
        except http.cookies.CookieError:
            return None
        return "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items()) or None


def _printable(text: object) -> str:
    return "".join(c for c in str(text)[:200] if c.isprintable())
