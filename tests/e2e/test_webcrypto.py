"""Presenter signatures are byte-compatible with Chromium's WebCrypto, both directions, over
the nonce's base64url-decoded bytes as Pathfinder's session-crypto.ts signs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from bridge.protocol.crypto import PresenterKey, new_nonce, verify
from tests.servers import static_server

PAGES = Path(__file__).parent / "pages"
B64URL = """
const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const unb64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - s.length % 4) % 4)), (c) => c.charCodeAt(0));
"""


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with static_server(PAGES) as url:  # WebCrypto needs a secure context: http://127.0.0.1
        yield url


def test_python_verifies_a_webcrypto_signature(page: Page, origin: str) -> None:
    page.goto(f"{origin}/peer.html")
    nonce = new_nonce()
    result = page.evaluate(
        "async (nonce) => {"
        + B64URL
        + """
        const pair = await crypto.subtle.generateKey({name: "ECDSA", namedCurve: "P-256"}, true, ["sign", "verify"]);
        const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
        const sig = await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, pair.privateKey, unb64(nonce));
        return {key: b64(spki), signature: b64(sig)};
        }""",
        nonce,
    )
    assert verify(result["key"], nonce, result["signature"])
    assert not verify(result["key"], new_nonce(), result["signature"])


def test_webcrypto_verifies_a_python_signature(page: Page, origin: str) -> None:
    page.goto(f"{origin}/peer.html")
    key, nonce = PresenterKey.generate(), new_nonce()
    ok = page.evaluate(
        "async ([key, nonce, signature]) => {"
        + B64URL
        + """
        const pub = await crypto.subtle.importKey("spki", unb64(key), {name: "ECDSA", namedCurve: "P-256"}, false, ["verify"]);
        return crypto.subtle.verify({name: "ECDSA", hash: "SHA-256"}, pub, unb64(signature), unb64(nonce));
        }""",
        [key.public_key, nonce, key.sign(nonce)],
    )
    assert ok is True
