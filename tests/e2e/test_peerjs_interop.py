"""Stock PeerJS 1.5.x browser clients, in real Chromium, meeting through a signaling server.

Each test runs against our server and against npm `peer` 1.0.x: the same test passing on
the reference server is what shows the test itself is sound.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext

from tests.e2e.conftest import peer_options

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("serialization", ["binary", "json"])
def test_two_browser_peers_exchange_data_both_ways(
    context: BrowserContext, page_origin: str, signaling_url: str, serialization: str
) -> None:
    options = peer_options(signaling_url)
    host_page, guest_page = context.new_page(), context.new_page()
    for page in (host_page, guest_page):
        page.goto(f"{page_origin}/peer.html")
    host_id = f"host{serialization}"
    assert host_page.evaluate("([id, o]) => peerTest.open(id, o)", [host_id, options]) == host_id
    guest_id = guest_page.evaluate("(o) => peerTest.open(undefined, o)", options)
    assert len(guest_id) == 36  # a UUID from GET /{key}/id

    message = {
        "text": "hello from guest",
        "n": 42,
        "list": [1, 2.5, "three"],
        "ok": True,
        "none": None,
    }
    echo = guest_page.evaluate(
        "([id, s, m]) => peerTest.call(id, s, m)", [host_id, serialization, message]
    )
    assert echo == {"echo": message, "from": host_id}
    assert host_page.evaluate("peerTest.received") == [message]
    assert host_page.evaluate("peerTest.conn.serialization") == serialization
    assert host_page.evaluate("peerTest.errors") == []


def test_peer_id_taken_is_reported_to_the_browser(
    context: BrowserContext, page_origin: str, signaling_url: str
) -> None:
    options = peer_options(signaling_url)
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto(f"{page_origin}/peer.html")
    first.evaluate("([id, o]) => peerTest.open(id, o)", ["samename", options])
    error = second.evaluate(
        "([id, o]) => peerTest.open(id, o).then(() => 'opened', (e) => e)", ["samename", options]
    )
    assert error == "unavailable-id"
