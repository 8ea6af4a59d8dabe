"""A real SignalingServer on a free loopback port, with fast timers for the timeout rules."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from bridge.config import LimitsConfig, ServerConfig
from bridge.signaling.server import SignalingServer
from tests.conftest import UNIT

FAST = ServerConfig(
    port=0, alive_timeout=1.0, expire_timeout=0.4, cleanup_interval=0.05, concurrent_limit=50
)


@pytest.fixture
def server_config() -> ServerConfig:
    return FAST


@pytest.fixture
async def server(server_config: ServerConfig) -> AsyncIterator[SignalingServer]:
    async with SignalingServer(server_config) as running:
        yield running


Dial = Callable[..., Any]


@pytest.fixture
def dial(server: SignalingServer) -> Dial:
    """Open a PeerJS-style websocket: dial("alice") or dial("alice", token=..., key=...)."""

    def _dial(
        id: str | None, *, token: str | None = "tok", key: str | None = "pathfinder", **kwargs: Any
    ) -> Any:
        query = "&".join(
            f"{name}={value}"
            for name, value in (("key", key), ("id", id), ("token", token))
            if value is not None
        )
        scheme = "wss" if server.config.tls_cert else "ws"
        url = f"{scheme}://127.0.0.1:{server.port}/pathfinder/peerjs?{query}&version=1.5.5"
        return connect(url, open_timeout=5 * UNIT, **kwargs)

    return _dial


async def recv_json(ws: ClientConnection, seconds: float = 2.0) -> dict[str, Any]:
    async with asyncio.timeout(seconds * UNIT):
        data = json.loads(await ws.recv())
    assert isinstance(data, dict)
    return data


def limits(**kwargs: Any) -> ServerConfig:
    return dataclasses.replace(FAST, limits=LimitsConfig(**kwargs))
