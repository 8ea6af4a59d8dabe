"""HTTP routes of the signaling server and its CORS and Origin policy (sans-I/O).

`route()` takes the request line and headers and returns either an `HttpResponse` or
`None`, meaning "this is the WebSocket endpoint: go on with the handshake".
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

#: What `peer` answers on `GET {path}/`, word for word.
SERVER_DESCRIPTION = {
    "name": "PeerJS Server",
    "description": "A server side element to broker connections between PeerJS clients.",
    "website": "https://peerjs.com/",
}


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class WebSocketParams:
    id: str | None
    token: str | None
    key: str | None


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """'*' allows everyone (as `peer` does); otherwise the Origin must be listed exactly.

    A request with no Origin header (curl, Python clients) is not a browser and is
    not subject to the browser's same-origin rules, so it is allowed.
    """
    if "*" in allowed or origin is None:
        return True
    return origin.rstrip("/") in {entry.rstrip("/") for entry in allowed}


def cors_headers(origin: str | None, allowed: Sequence[str]) -> tuple[tuple[str, str], ...]:
    if "*" in allowed:
        return (("Access-Control-Allow-Origin", "*"),)
    if origin is not None and origin_allowed(origin, allowed):
        return (("Access-Control-Allow-Origin", origin), ("Vary", "Origin"))
    return (("Vary", "Origin"),)


def forwarded_client(peer: str, forwarded: Sequence[str], trusted_proxies: Sequence[str]) -> str:
    """The client's address: the socket's `peer`, or, when `peer` is a trusted proxy, the
    last address of its X-Forwarded-For headers: the one the proxy appended and vouches
    for (anything before it is whatever the client wrote)."""
    if peer not in trusted_proxies or not forwarded:
        return peer
    last = forwarded[-1].split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer


def websocket_params(target: str) -> WebSocketParams:
    query = parse_qs(urlsplit(target).query)

    def first(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    return WebSocketParams(first("id"), first("token"), first("key"))


@dataclass(frozen=True)
class Router:
    path: str
    key: str
    allowed_origins: Sequence[str]
    allow_discovery: bool
    peer_ids: Callable[[], list[str]]
    metrics_text: Callable[[], str]
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))

    def route(self, method: str, target: str, origin: str | None) -> HttpResponse | None:
        base = self.path.rstrip("/")
        path = urlsplit(target).path
        cors = cors_headers(origin, self.allowed_origins)
        if method == "OPTIONS":
            return HttpResponse(
                204,
                headers=(
                    *cors,
                    ("Access-Control-Allow-Methods", "GET, OPTIONS"),
                    ("Access-Control-Allow-Headers", "Content-Type"),
                    ("Access-Control-Max-Age", "600"),
                ),
            )
        if method != "GET":
            return HttpResponse(405, b"Method not allowed\n", headers=(("Allow", "GET, OPTIONS"),))
        if path in (base, base + "/") and base:
            return _json(200, SERVER_DESCRIPTION, cors)
        if not path.startswith(base + "/"):
            return HttpResponse(404, b"Not found\n", headers=cors)
        rest = path[len(base) + 1 :].strip("/").split("/")
        if rest == ["peerjs"]:
            if not origin_allowed(origin, self.allowed_origins):
                return HttpResponse(403, b"Origin not allowed\n", headers=cors)
            return None
        if rest == ["metrics"]:
            return HttpResponse(
                200, self.metrics_text().encode(), "text/plain; version=0.0.4; charset=utf-8", cors
            )
        if len(rest) == 2 and rest[1] in ("id", "peers"):
            if not hmac.compare_digest(rest[0].encode(), self.key.encode()):
                return HttpResponse(401, b"Invalid key provided\n", headers=cors)
            if rest[1] == "id":
                return HttpResponse(200, self.new_id().encode(), "text/html; charset=utf-8", cors)
            if self.allow_discovery:
                return _json(200, self.peer_ids(), cors)
            return HttpResponse(401, b"Unauthorized\n", headers=cors)
        return HttpResponse(404, b"Not found\n", headers=cors)


def _json(status: int, data: object, headers: tuple[tuple[str, str], ...]) -> HttpResponse:
    body = json.dumps(data, separators=(",", ":")).encode()
    return HttpResponse(status, body, "application/json; charset=utf-8", headers)
