"""Serves the sandbox: the Grafana-contract app that stands in for Grafana in the demo and tests.

A standard-library HTTP server on its own thread (it serves a few static files; nothing here
is worth an async framework). Every unknown path returns the app, so client-side routes
work on reload; the page gets `window.grafanaBootData` with the version it runs as, the
selector table of that version and the Pathfinder panel contract. With `require_login`,
pages and APIs need a signed-in session or a service-account token, as Grafana's do
(`logins.py`); /api/user and /api/health answer as Grafana's.
"""

from __future__ import annotations

import errno
import functools
import http.server
import json
import mimetypes
import sys
import threading
import time
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from bridge.browser.contract import grafana_selectors, pathfinder_contract
from bridge.errors import PortInUseError
from bridge.sandbox import realpanel
from bridge.sandbox.logins import SESSION_COOKIE, SandboxLogins
from bridge.sandbox.realpanel import RealPanel
from bridge.signaling.ports import describe_port_holder

HERE = resources.files("bridge.sandbox")
STATIC = HERE.joinpath("static")
GUIDES = HERE.joinpath("guides")
DEFAULT_VERSION = "12.0.0"


@dataclass(frozen=True)
class SandboxSettings:
    host: str = "127.0.0.1"
    port: int = 0
    grafana_version: str = DEFAULT_VERSION
    require_login: bool = False
    user: str = "admin"
    password: str = "admin"
    #: Seconds a signed-in session lasts (Grafana's login_maximum_lifetime_duration: 30 days).
    session_lifetime: float = 30 * 24 * 3600
    #: A service-account token accepted as `Authorization: Bearer` (empty: none).
    service_account_token: str = ""
    #: Extra elements on every page, for benchmarks on a Grafana-sized DOM (~10,000 nodes).
    extra_elements: int = 0
    #: Security tests: `/redirect?to=URL` answers 302 to any URL, as an open redirect would.
    open_redirect: bool = False
    #: The real Pathfinder panel in place of the imitation (`--pathfinder DIST`).
    real_panel: RealPanel | None = None


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(value).replace("</", "<\\/").replace("<!--", "<\\!--")


def guides() -> list[dict[str, Any]]:
    """The sandbox's guides, whole, in file-name order."""
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(GUIDES.iterdir(), key=lambda p: p.name)
        if path.name.endswith(".json")
    ]


def guide_list() -> list[dict[str, str]]:
    return [{"id": str(guide["id"]), "title": str(guide["title"])} for guide in guides()]


#: The largest POST /login body read.
MAX_LOGIN_BODY = 4096


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "grafana-sandbox"
    page: bytes = b""
    settings: SandboxSettings
    logins: SandboxLogins

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: object, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        panel = self.settings.real_panel
        # The plugin's files and the host script are public, as Grafana's /public/plugins/.
        if panel is not None and self._real_panel_file(panel, path):
            return
        if path.startswith("/static/"):
            self._file(STATIC, path.removeprefix("/static/"))
        elif path == "/api/health":
            self._json(200, {"database": "ok", "version": self.settings.grafana_version})
        elif path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        elif path == "/logout":
            self.logins.sign_out(self.headers.get("Cookie"))
            expired = f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
            self._send(302, b"", "text/plain", (("Location", "/login"), ("Set-Cookie", expired)))
        elif path == "/redirect" and self.settings.open_redirect:
            location = parse_qs(urlsplit(self.path).query).get("to", ["/"])[0]
            self._send(302, b"", "text/plain", (("Location", location),))
        elif path == "/login":
            self._send(200, self.page, "text/html; charset=utf-8")
        else:
            who = self.logins.identify(
                self.headers.get("Cookie"), self.headers.get("Authorization"), time.time()
            )
            if path == "/api/user":
                if who is None:
                    self._json(401, {"message": "Unauthorized"})
                else:
                    self._json(200, who.api_user())
            elif who is None and self.settings.require_login:
                if path.startswith("/api/"):
                    self._json(401, {"message": "Unauthorized"})
                else:
                    target = path + (f"?{parts.query}" if parts.query else "")
                    location = "/login?redirect=" + quote(target, safe="")
                    self._send(302, b"", "text/plain", (("Location", location),))
            elif panel is not None and self._real_panel_api(panel, path):
                return
            elif path == "/api/guides":
                self._json(200, guide_list())
            elif path.startswith("/api/guides/"):
                self._file(GUIDES, path.removeprefix("/api/guides/"))
            else:
                self._send(200, self.page, "text/html; charset=utf-8")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if self.settings.real_panel is not None and "/ofrep/" in path:
            # Grafana's feature-flag evaluation (OpenFeature): no flags here, so the
            # plugin's defaults apply.
            self._discard_body()
            self._json(200, {"flags": []})
            return
        if path != "/login":
            self._json(404, {"message": "Not found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if not 0 < length <= MAX_LOGIN_BODY:
            self._json(400, {"message": "bad request"})
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._json(400, {"message": "bad request"})
            return
        token = self.logins.sign_in(body.get("user"), body.get("password"), time.time())
        if token is None:
            self._json(401, {"message": "Invalid username or password"})
            return
        cookie = (
            f"{SESSION_COOKIE}={token}; Path=/; Max-Age={int(self.settings.session_lifetime)}; "
            "HttpOnly; SameSite=Lax"
        )
        self._json(200, {"message": "Logged in", "redirectUrl": "/"}, (("Set-Cookie", cookie),))

    def _discard_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = 0
        self.rfile.read(max(0, min(length, 1 << 20)))

    def _real_panel_file(self, panel: RealPanel, path: str) -> bool:
        """The plugin's build files and the host script; False for everything else."""
        if path.startswith(realpanel.PLUGIN_URL + "/"):
            target = panel.build.file(path.removeprefix(realpanel.PLUGIN_URL + "/"))
            if target is None:
                self._send(404, b"not found\n", "text/plain")
            else:
                content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                self._send(200, target.read_bytes(), content_type)
        elif path == "/static/host.js":
            self._send(200, panel.host_bundle.read_bytes(), "text/javascript")
        else:
            return False
        return True

    def _real_panel_api(self, panel: RealPanel, path: str) -> bool:
        """The APIs the plugin calls (behind the login, as Grafana's); the sandbox's own
        APIs answer as before, any other API path is a JSON 404 as Grafana's would be."""
        if path == realpanel.SETTINGS_API:
            self._json(200, realpanel.plugin_settings(panel.peers))
        elif path == realpanel.GUIDES_API:
            self._json(200, {"items": [realpanel.guide_resource(guide) for guide in guides()]})
        elif path.startswith(realpanel.GUIDES_API + "/"):
            name = path.removeprefix(realpanel.GUIDES_API + "/")
            found = [guide for guide in guides() if guide["id"] == name]
            if found:
                self._json(200, realpanel.guide_resource(found[0]))
            else:
                self._json(404, {"message": "guide not found"})
        elif path.startswith(("/api/", "/apis/")) and not path.startswith("/api/guides"):
            self._json(404, {"message": "not found"})
        else:
            return False
        return True

    def _file(self, folder: Traversable, name: str) -> None:
        parts = name.split("/")
        # Relative names only: no "..", no hidden files, nothing empty.
        if not all(part and not part.startswith(".") for part in parts):
            self._send(404, b"not found\n", "text/plain")
            return
        target = folder.joinpath(*parts)
        if not target.is_file():
            self._send(404, b"not found\n", "text/plain")
            return
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        self._send(200, target.read_bytes(), content_type)


def render_page(settings: SandboxSettings) -> bytes:
    table = grafana_selectors(settings.grafana_version)
    contract = pathfinder_contract()
    boot = {
        "settings": {"buildInfo": {"version": settings.grafana_version, "edition": "Sandbox"}},
        "sandbox": {
            "requireLogin": settings.require_login,
            "pluginPath": contract["plugin_path"],
            "selectorTable": table.grafana_version,
        },
    }
    panel = settings.real_panel
    if panel is not None:
        extra = realpanel.boot_data(
            settings.grafana_version, settings.user, panel.build, "docs-panel-container"
        )
        boot["settings"].update(extra.pop("settings"))
        boot["settings"]["buildInfo"]["edition"] = "Sandbox"
        boot.update(extra)
    script = (
        f"window.grafanaBootData = {_script_json(boot)};\n"
        f"window.__sandboxSelectors = {_script_json(table.table)};\n"
        f"window.__sandboxContract = {_script_json(contract.data)};"
    )
    template = STATIC.joinpath("index.html").read_text(encoding="utf-8")
    if panel is not None:
        template = template.replace("/static/pathfinder.js", "/static/host.js")
    return template.replace("/*BOOT*/", script).encode()


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A browser that closed its tab mid-answer is normal, not worth a traceback."""
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class SandboxServer:
    """`with SandboxServer(settings) as sandbox: sandbox.url`."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        logins = SandboxLogins(
            self.settings.user,
            self.settings.password,
            lifetime=self.settings.session_lifetime,
            service_account_token=self.settings.service_account_token,
        )
        handler = type(
            "Handler",
            (_Handler,),
            {
                "page": render_page(self.settings),
                "settings": self.settings,
                "logins": logins,
            },
        )
        try:
            self._httpd = _HTTPServer(
                (self.settings.host, self.settings.port), functools.partial(handler)
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                holder = describe_port_holder(self.settings.port)
                raise PortInUseError(
                    f"port {self.settings.port} is in use{holder}; pick another with --port N"
                ) from None
            raise
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="sandbox", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    def guide_url(self, guide_id: str) -> str:
        """How the panel names a sandbox guide: its URL, or `backend-guide:ID` for the real
        panel (it loads custom guides through its app-platform API, never from http URLs)."""
        if self.settings.real_panel is not None:
            return f"{realpanel.GUIDE_SCHEME}{guide_id}"
        return f"{self.url}/guides/{guide_id}"

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
