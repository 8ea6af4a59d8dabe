"""Where the signaling server is: `http://HOST:PORT/PATH` (https for TLS) and the key."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bridge.errors import ConfigError


@dataclass(frozen=True)
class SignalingEndpoint:
    secure: bool
    host: str
    port: int
    path: str
    key: str

    @classmethod
    def parse(cls, url: str, key: str) -> SignalingEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"--server: {url!r} is not a signaling server URL; use http://HOST:PORT/PATH "
                "(https:// for TLS), e.g. http://127.0.0.1:9000/pathfinder"
            )
        secure = parts.scheme == "https"
        try:
            port = parts.port or (443 if secure else 80)
        except ValueError:
            raise ConfigError(f"--server: {url!r} has an invalid port") from None
        path = "/" + parts.path.strip("/")
        return cls(secure, parts.hostname, port, path if path != "/" else "", key)

    @property
    def http_base(self) -> str:
        scheme = "https" if self.secure else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{self.path}"

    def websocket_url(self, peer_id: str, token: str) -> str:
        scheme = "wss" if self.secure else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"{scheme}://{host}:{self.port}{self.path}/peerjs?key={quote(self.key)}"
            f"&id={quote(peer_id)}&token={quote(token)}&version=1.5.5"
        )

    def id_url(self) -> str:
        return f"{self.http_base}/{quote(self.key)}/id"

    def __str__(self) -> str:
        return self.http_base
