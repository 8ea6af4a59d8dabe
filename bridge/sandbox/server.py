"""Serves the sandbox: the Grafana-contract app that stands in for Grafana in the demo and tests.

A standard-library HTTP server on its own thread (it serves a few static files; nothing here
is worth an async framework). Every unknown path returns the app, so client-side routes
work on reload; the page gets `window.grafanaBootData` with the version it runs as, the
selector table of that version and the Pathfinder panel contract.
"""

from __future__ import annotations

import errno
import functools
import http.server
import json
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bridge.browser.contract import grafana_selectors, pathfinder_contract
from bridge.errors import PortInUseError
from bridge.signaling.ports import describe_port_holder

HERE = Path(__file__).parent
STATIC = HERE / "static"
GUIDES = HERE / "guides"
DEFAULT_VERSION = "12.0.0"


@dataclass(frozen=True)
class SandboxSettings:
    host: str = "127.0.0.1"
    port: int = 0
    grafana_version: str = DEFAULT_VERSION
    require_login: bool = False
    user: str = "admin"
    password: str = "admin"
    #: Extra elements on every page, for benchmarks on a Grafana-sized DOM (~10,000 nodes).
    extra_elements: int = 0
    #: Security tests: `/redirect?to=URL` answers 302 to any URL, as an open redirect would.
    open_redirect: bool = False


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element."""
    return json.dumps(value).replace("</", "<\\/").replace("<!--", "<\\!--")


def guide_list() -> list[dict[str, str]]:
    guides = []
    for path in sorted(GUIDES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        guides.append({"id": str(data["id"]), "title": str(data["title"])})
    return guides


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "grafana-sandbox"
    page: bytes = b""
    open_redirect = False

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/static/"):
            self._file(STATIC, path.removeprefix("/static/"))
        elif path == "/api/guides":
            self._send(200, json.dumps(guide_list()).encode(), "application/json")
        elif path.startswith("/api/guides/"):
            self._file(GUIDES, path.removeprefix("/api/guides/"))
        elif path == "/api/health":
            self._send(200, b'{"database":"ok"}', "application/json")
        elif path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        elif path == "/redirect" and self.open_redirect:
            self.send_response(302)
            self.send_header("Location", parse_qs(urlsplit(self.path).query).get("to", ["/"])[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(200, self.page, "text/html; charset=utf-8")

    def _file(self, folder: Path, name: str) -> None:
        target = (folder / name).resolve()
        if folder.resolve() not in target.parents or not target.is_file():
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
            "user": settings.user,
            "password": settings.password,
            "pluginPath": contract["plugin_path"],
            "selectorTable": table.grafana_version,
        },
    }
    script = (
        f"window.grafanaBootData = {_script_json(boot)};\n"
        f"window.__sandboxSelectors = {_script_json(table.table)};\n"
        f"window.__sandboxContract = {_script_json(contract.data)};"
    )
    template = (STATIC / "index.html").read_text(encoding="utf-8")
    return template.replace("/*BOOT*/", script).encode()


class SandboxServer:
    """`with SandboxServer(settings) as sandbox: sandbox.url`."""

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        handler = type(
            "Handler",
            (_Handler,),
            {"page": render_page(self.settings), "open_redirect": self.settings.open_redirect},
        )
        try:
            self._httpd = http.server.ThreadingHTTPServer(
                (self.settings.host, self.settings.port), functools.partial(handler)
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                holder = describe_port_holder(self.settings.port)
                raise PortInUseError(
                    f"port {self.settings.port} is in use{holder}; pick another with --port N"
                ) from None
            raise
        self._httpd.daemon_threads = True
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
        return f"{self.url}/guides/{guide_id}"

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
