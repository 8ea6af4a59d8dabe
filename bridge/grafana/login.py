"""How pathfinder-bridge signs in to a Grafana (sans-I/O): a saved login (Playwright's
storage-state JSON, the ecosystem's form of a signed-in browser), a service-account token, a user
and password, or nothing.

Everything here is data and rules: which login was chosen and from where (`describe()` never
shows a secret), which cookies of a saved login a Grafana receives and whether they expired,
and which requests may carry the token: the Grafana origin's, no other.
"""

from __future__ import annotations

import datetime
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bridge.errors import BridgeError

ENV_TOKEN = "GRAFANA_TOKEN"
ENV_USER = "GRAFANA_USER"
ENV_PASSWORD = "GRAFANA_PASSWORD"

#: Limits on a saved-login file: a browser's state for one Grafana is a few KiB.
MAX_STATE_BYTES = 1 << 20
MAX_COOKIES = 1000
MAX_TOKEN_LENGTH = 4096


class LoginError(BridgeError):
    """A login cannot be used: unreadable, expired, for another Grafana, or refused."""


class LoginKind(enum.StrEnum):
    NONE = "none"
    SAVED = "saved login"
    TOKEN = "service-account token"
    PASSWORD = "user and password"


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with default ports filled in; ('', '', 0) for anything not http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ("", "", 0)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return ("", "", 0)
    return (parts.scheme, parts.hostname.lower(), port)


def same_origin(url: str, other: str) -> bool:
    mine = origin_of(url)
    return mine[0] != "" and mine == origin_of(other)


@dataclass(frozen=True)
class Cookie:
    name: str
    value: str = field(repr=False)
    domain: str
    path: str = "/"
    #: Seconds since the epoch; -1 for a cookie that lasts as long as the browser.
    expires: float = -1
    http_only: bool = False
    secure: bool = False
    same_site: str = "Lax"

    def sent_to(self, url: str) -> bool:
        """Whether a browser sends this cookie with a request for `url` (RFC 6265 matching)."""
        scheme, host, _ = origin_of(url)
        if not host or (
            self.secure and scheme != "https" and host not in ("localhost", "127.0.0.1")
        ):
            return False
        domain = self.domain.lower()
        if domain.startswith("."):
            if not (host == domain[1:] or host.endswith(domain)):
                return False
        elif host != domain:
            return False
        path = urlsplit(url).path or "/"
        cookie_path = self.path or "/"
        return path == cookie_path or path.startswith(cookie_path.rstrip("/") + "/")

    def expired(self, now: float) -> bool:
        return 0 <= self.expires <= now

    def to_playwright(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "domain": self.domain,
            "path": self.path,
            "expires": self.expires,
            "httpOnly": self.http_only,
            "secure": self.secure,
            "sameSite": self.same_site,
        }


def _string(item: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = item.get(key, default)
    if not isinstance(value, str) or len(value) > MAX_STATE_BYTES:
        raise ValueError(f"{where}.{key}: expected a string")
    return value


def _parse_cookie(item: object, where: str) -> Cookie:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object")
    expires = item.get("expires", -1)
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise ValueError(f"{where}.expires: expected a number")
    same_site = _string(item, "sameSite", where, "Lax")
    if same_site not in ("Strict", "Lax", "None"):
        raise ValueError(f"{where}.sameSite: expected Strict, Lax or None")
    return Cookie(
        name=_string(item, "name", where),
        value=_string(item, "value", where),
        domain=_string(item, "domain", where),
        path=_string(item, "path", where, "/"),
        expires=float(expires),
        http_only=bool(item.get("httpOnly", False)),
        secure=bool(item.get("secure", False)),
        same_site=same_site,
    )


def _parse_origin(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object")
    entries = item.get("localStorage", [])
    if not isinstance(entries, list):
        raise ValueError(f"{where}.localStorage: expected a list")
    storage = []
    for i, entry in enumerate(entries):
        at = f"{where}.localStorage[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{at}: expected an object")
        storage.append({"name": _string(entry, "name", at), "value": _string(entry, "value", at)})
    return {"origin": _string(item, "origin", where), "localStorage": storage}


@dataclass(frozen=True)
class StorageState:
    """A signed-in browser, as Playwright's `storage_state()` writes it: cookies and, per origin,
    localStorage."""

    cookies: tuple[Cookie, ...] = ()
    origins: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def from_json(cls, text: str | bytes, source: str) -> StorageState:
        """Parse a saved-login file's content; LoginError names `source` and what is wrong."""
        if len(text) > MAX_STATE_BYTES:
            raise LoginError(
                f"{source} is larger than {MAX_STATE_BYTES >> 20} MiB: not a saved login"
            )
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object with cookies and origins")
            cookies = data.get("cookies", [])
            origins = data.get("origins", [])
            if not isinstance(cookies, list) or not isinstance(origins, list):
                raise ValueError("cookies and origins must be lists")
            if len(cookies) > MAX_COOKIES:
                raise ValueError(f"more than {MAX_COOKIES} cookies")
            return cls(
                tuple(_parse_cookie(c, f"cookies[{i}]") for i, c in enumerate(cookies)),
                tuple(_parse_origin(o, f"origins[{i}]") for i, o in enumerate(origins)),
            )
        except (ValueError, RecursionError) as exc:
            raise LoginError(
                f"{source} is not a saved login (Playwright storage-state JSON): {exc}"
            ) from None

    def cookies_for(self, url: str) -> list[Cookie]:
        return [cookie for cookie in self.cookies if cookie.sent_to(url)]

    def for_grafana(self, grafana_url: str) -> StorageState:
        """Only what this Grafana needs: its cookies and its origin's storage, nothing of the
        identity provider an SSO login passed through."""
        return StorageState(
            tuple(self.cookies_for(grafana_url)),
            tuple(o for o in self.origins if same_origin(str(o["origin"]), grafana_url)),
        )

    def cookie_header(self, url: str, now: float) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies_for(url) if not c.expired(now))

    def check_usable(self, grafana_url: str, now: float, source: str) -> None:
        """Raise LoginError when this saved login cannot sign in to `grafana_url`: it has no
        cookie for that Grafana, or all of them expired."""
        again = sign_in_again(grafana_url, source)
        mine = self.cookies_for(grafana_url)
        if not mine:
            hosts = sorted({c.domain.lstrip(".") for c in self.cookies})
            saved_for = f"it was saved for {', '.join(hosts)}" if hosts else "it holds no cookies"
            host = origin_of(grafana_url)[1] or grafana_url
            raise LoginError(f"{source} holds no login for {host} ({saved_for}); {again}")
        if all(c.expired(now) for c in mine):
            latest = max(c.expires for c in mine)
            when = datetime.datetime.fromtimestamp(latest, datetime.UTC).strftime(
                "%Y-%m-%d %H:%M:%S UTC"
            )
            raise LoginError(f"the login saved in {source} expired at {when}; {again}")

    def to_playwright(self) -> dict[str, Any]:
        return {
            "cookies": [c.to_playwright() for c in self.cookies],
            "origins": [dict(o) for o in self.origins],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_playwright(), indent=2)


def sign_in_again(grafana_url: str, source: str) -> str:
    return f"sign in again: pathfinder-bridge login --grafana {grafana_url} --save {source}"


@dataclass(frozen=True)
class GrafanaLogin:
    kind: LoginKind = LoginKind.NONE
    #: Where it came from: a flag, an environment variable or the saved-login file.
    source: str = ""
    user: str = ""
    secret: str = field(default="", repr=False)  # the token or the password
    state: StorageState | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Which login is used, for people to read; never a secret."""
        if self.kind is LoginKind.SAVED:
            return f"saved login {self.source}"
        if self.kind is LoginKind.TOKEN:
            return f"service-account token from {self.source}"
        if self.kind is LoginKind.PASSWORD:
            return f"user {self.user} (password from {self.source})"
        return "none (anonymous)"

    def headers_for(self, url: str, grafana_url: str, now: float) -> dict[str, str]:
        """What a request for `url` carries to sign in: the token and the saved cookies go to
        the Grafana origin only."""
        if not same_origin(url, grafana_url):
            return {}
        if self.kind is LoginKind.TOKEN:
            return {"Authorization": f"Bearer {self.secret}"}
        if self.kind is LoginKind.SAVED and self.state is not None:
            cookie = self.state.cookie_header(url, now)
            return {"Cookie": cookie} if cookie else {}
        return {}

    def refused(self, grafana_url: str) -> LoginError:
        """The error for a Grafana that answers 401 to this login."""
        if self.kind is LoginKind.SAVED:
            return LoginError(
                f"Grafana at {grafana_url} does not accept the login saved in {self.source} "
                f"(it expired, was signed out, or belongs to another Grafana); "
                f"{sign_in_again(grafana_url, self.source)}"
            )
        if self.kind is LoginKind.TOKEN:
            return LoginError(
                f"Grafana at {grafana_url} does not accept the service-account token from "
                f"{self.source}: check that it is current and belongs to this Grafana"
            )
        if self.kind is LoginKind.PASSWORD:
            return LoginError(
                f"Grafana at {grafana_url} refused user {self.user}: check --user and --password"
            )
        return LoginError(
            f"Grafana at {grafana_url} needs a login: save one with `pathfinder-bridge login "
            f"--grafana {grafana_url} --save FILE` and pass --storage-state FILE, or give a "
            f"service-account token (--token or {ENV_TOKEN})"
        )


def choose_login(
    *,
    storage_state: tuple[str, StorageState] | None = None,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
    environ: Mapping[str, str],
) -> GrafanaLogin:
    """The one login the flags and environment ask for: flags before the environment; a saved
    login, a token and a password together are a mistake."""
    given = [
        flag
        for flag, value in (
            ("--storage-state", storage_state),
            ("--token", token),
            ("--user/--password", user or password),
        )
        if value
    ]
    if len(given) > 1:
        raise LoginError(f"give one way to sign in to Grafana, not {' and '.join(given)}")
    if storage_state is not None:
        return GrafanaLogin(LoginKind.SAVED, storage_state[0], state=storage_state[1])
    if token is not None:
        return _token_login(token, "--token")
    if user or password:
        who = user or environ.get(ENV_USER, "")
        secret = password or environ.get(ENV_PASSWORD, "")
        if not (who and secret):
            raise LoginError(
                f"--user and --password go together (or {ENV_USER} and {ENV_PASSWORD})"
            )
        source = "--password" if password else ENV_PASSWORD
        return GrafanaLogin(LoginKind.PASSWORD, source, user=who, secret=secret)
    if environ.get(ENV_TOKEN):
        return _token_login(environ[ENV_TOKEN], ENV_TOKEN)
    if environ.get(ENV_USER) and environ.get(ENV_PASSWORD):
        return GrafanaLogin(
            LoginKind.PASSWORD, ENV_PASSWORD, user=environ[ENV_USER], secret=environ[ENV_PASSWORD]
        )
    return GrafanaLogin()


def _token_login(token: str, source: str) -> GrafanaLogin:
    token = token.strip()
    if (
        not token
        or len(token) > MAX_TOKEN_LENGTH
        or any(c.isspace() or not c.isprintable() for c in token)
    ):
        raise LoginError(
            f"{source}: not a service-account token (one word of printable characters)"
        )
    return GrafanaLogin(LoginKind.TOKEN, source, secret=token)
