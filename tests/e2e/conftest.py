"""Fixtures of the browser interop tests: pages on a real http://127.0.0.1 server (a secure
context in the same address space as the signaling server), and both signaling servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import PEERJS_BUNDLE, npm_peer_server, our_signaling_server, static_server

PAGES = Path(__file__).parent / "pages"


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    with static_server(PAGES, {"peerjs.min.js": PEERJS_BUNDLE}) as origin:
        yield origin


@pytest.fixture(scope="module", params=["ours", "npm-peer"])
def signaling_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every interop case runs against our server and the reference npm `peer`."""
    start = our_signaling_server if request.param == "ours" else npm_peer_server
    with start() as url:
        yield url


def peer_options(url: str) -> dict[str, object]:
    """PeerJS client options for a signaling URL http://HOST:PORT/pathfinder."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return {
        "host": host,
        "port": int(port),
        "path": "/pathfinder",
        "key": "pathfinder",
        "secure": False,
    }
