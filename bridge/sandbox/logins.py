"""Who is signed in to the sandbox, decided as Grafana decides it (sans-I/O; time is an argument).

A person signs in with POST /login and gets an HttpOnly `grafana_session` cookie naming a
server-side session that expires; a cookie this sandbox did not issue (another sandbox's, one
from before a restart) means nothing. A script sends a service-account token as
`Authorization: Bearer`. /api/user answers 401 to anyone else, anonymous users included.
"""

from __future__ import annotations

import hmac
import http.cookies
import secrets
from collections import OrderedDict
from dataclasses import dataclass

SESSION_COOKIE = "grafana_session"
#: Sessions kept at most; the oldest is forgotten first (a local app; bounded all the same).
MAX_SESSIONS = 1000


@dataclass(frozen=True)
class SignedIn:
    login: str
    name: str
    service_account: bool = False

    def api_user(self) -> dict[str, object]:
        """The body of Grafana's GET /api/user for this identity."""
        return {
            "id": 2 if self.service_account else 1,
            "login": self.login,
            "name": self.name,
            "email": "" if self.service_account else f"{self.login}@localhost",
            "isGrafanaAdmin": not self.service_account,
            "orgId": 1,
        }


@dataclass(frozen=True)
class _Session:
    login: str
    expires_at: float


class SandboxLogins:
    def __init__(
        self, user: str, password: str, *, lifetime: float, service_account_token: str = ""
    ) -> None:
        self.user = user
        self.password = password
        self.lifetime = lifetime
        self.service_account_token = service_account_token
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    def sign_in(self, user: object, password: object, now: float) -> str | None:
        """A new session token for the right user and password, else None."""
        if not isinstance(user, str) or not isinstance(password, str):
            return None
        right_user = hmac.compare_digest(user.encode(), self.user.encode())
        right_password = hmac.compare_digest(password.encode(), self.password.encode())
        if not (right_user and right_password):
            return None
        token = secrets.token_urlsafe(24)
        self._sessions[token] = _Session(self.user, now + self.lifetime)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return token

    def sign_out(self, cookie_header: str | None) -> None:
        token = session_token(cookie_header)
        if token:
            self._sessions.pop(token, None)

    def identify(
        self, cookie_header: str | None, authorization: str | None, now: float
    ) -> SignedIn | None:
        """Who sends these headers: a live session, the service account, or nobody."""
        if authorization and self.service_account_token:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                credential.strip().encode(), self.service_account_token.encode()
            ):
                return SignedIn("sa-pathfinder-bridge", "pathfinder-bridge", service_account=True)
        token = session_token(cookie_header)
        session = self._sessions.get(token) if token is not None else None
        if token is None or session is None:
            return None
        if now >= session.expires_at:
            del self._sessions[token]
            return None
        return SignedIn(session.login, session.login)


def session_token(cookie_header: str | None) -> str | None:
    if not cookie_header:
        return None
    cookies = http.cookies.SimpleCookie()
    try:
        cookies.load(cookie_header)
    except http.cookies.CookieError:
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None
