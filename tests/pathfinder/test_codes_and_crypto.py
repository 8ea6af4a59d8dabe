"""Join codes, base64url and the presenter proof, checked against Pathfinder's own functions.

No network: upstream's join-code-utils.ts, session-crypto.ts and security/webcrypto.ts run in
the page, ours in this process, on the same inputs.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError

from bridge.errors import ProtocolError
from bridge.protocol.crypto import PresenterKey, new_nonce, verify
from bridge.protocol.joincode import JoinCode
from bridge.protocol.webbase64 import atob, b64url_decode
from tests.pathfinder.upstream import UpstreamPage

KEY = PresenterKey.generate().public_key
NAMES = ["Workshop", "Café crème", "Démo ✓ 日本語 🚀", 'quote " and \\ backslash']


@pytest.mark.parametrize("name", NAMES)
def test_upstream_reads_our_join_codes_and_urls(upstream: UpstreamPage, name: str) -> None:
    """Upstream: parseJoinCode is JSON.parse(atob(code)), so the JSON text is read as Latin-1
    bytes, and a join URL is read with URLSearchParams + decodeURIComponent (parseSessionFromUrl).
    We must: make codes whose every field, any name included, reads back unchanged there
    (non-ASCII characters escaped in the JSON, so the code is pure ASCII)."""
    code = JoinCode("k3x9q2", name, "https://grafana.com/docs/learning-journeys/x/", KEY)
    fields = "o => [o.id, o.name, o.tutorialUrl, o.sessionPublicKey]"
    expected = [code.id, code.name, code.url, code.pubkey]
    assert upstream.call(f"(pf, code) => ({fields})(pf.parseJoinCode(code))", code.encode()) == (
        expected
    )
    query = code.join_url("http://127.0.0.1:3000").split("?", 1)[1]
    from_url = upstream.call(
        f"""(pf, query) => {{
            history.pushState({{}}, '', '?' + query);
            return ({fields})(pf.parseSessionFromUrl());
        }}""",
        query,
    )
    assert from_url == expected


@pytest.mark.parametrize("name", ["Workshop", "Café crème", "ÿ<>&'"])
def test_we_read_upstream_join_codes_and_urls(upstream: UpstreamPage, name: str) -> None:
    """Upstream: generateJoinCode is btoa(JSON.stringify({id, name, url, pubkey})): a name with
    characters up to U+00FF becomes Latin-1 bytes, not UTF-8. We must read those codes, and the
    join URLs of generateJoinUrl, exactly as upstream's own parser does."""
    offer = {
        "id": "ab12cd",
        "name": name,
        "tutorialUrl": "https://grafana.com/docs/x/",
        "defaultMode": "guided",
        "offer": {},
        "timestamp": 0,
        "sessionPublicKey": KEY,
    }
    code, url = upstream.call(
        "(pf, offer) => [pf.generateJoinCode(offer), pf.generateJoinUrl(offer, 'http://g:3000')]",
        offer,
    )
    expected = JoinCode("ab12cd", name, "https://grafana.com/docs/x/", KEY)
    assert JoinCode.parse(code) == expected
    assert JoinCode.parse(url) == expected


def test_join_url_parameters_override_the_code_alike(upstream: UpstreamPage) -> None:
    """Upstream: parseSessionFromUrl takes non-empty `sessionName` and `tutorialUrl` parameters
    of the join URL over the code's. We must read a pasted join URL the same way."""
    code = JoinCode("k3x9q2", "Code name", "https://grafana.com/docs/a/", KEY)
    for extra in [
        "&sessionName=Other%20n%C3%A4me&tutorialUrl=https%3A%2F%2Fx%2Fb",
        "&sessionName=",
    ]:
        url = code.join_url("http://127.0.0.1:3000") + extra
        theirs = upstream.call(
            """(pf, query) => {
                history.pushState({}, '', '?' + query);
                const o = pf.parseSessionFromUrl();
                return [o.id, o.name, o.tutorialUrl, o.sessionPublicKey];
            }""",
            url.split("?", 1)[1],
        )
        ours = JoinCode.parse(url)
        assert [ours.id, ours.name, ours.url, ours.pubkey] == theirs


def test_upstream_cannot_make_a_code_for_a_name_beyond_latin1(upstream: UpstreamPage) -> None:
    """Upstream: btoa throws on characters above U+00FF, so generateJoinCode (and createSession
    with it) fails for such a session name. We must: nothing to read; our own codes carry any
    name (test above)."""
    with pytest.raises(PlaywrightError, match="InvalidCharacterError"):
        upstream.call(
            "(pf) => pf.generateJoinCode({id: 'ab12cd', name: '日本語', tutorialUrl: ''})"
        )


def test_bare_session_ids_are_read_alike(upstream: UpstreamPage) -> None:
    """Upstream: a code that is not base64 JSON but 6 characters of [a-z0-9] after lowercasing
    is a legacy bare id, lowercased; no key. We must read it the same way (and, as upstream,
    refuse to join without a key: tests/unit/test_sessions.py)."""
    for text in ["ab12cd", "AB12CD", "  x9y8z7\n"]:
        upstream_id = upstream.call("(pf, t) => pf.parseJoinCode(t).id", text)
        parsed = JoinCode.parse(text)
        assert (parsed.id, parsed.pubkey) == (upstream_id, "")


def corpus() -> list[str]:
    """Valid nonces, edge cases of padding, whitespace and alphabet, and random strings."""
    fixed = [new_nonce() for _ in range(5)]
    fixed += ["", "A", "AA", "AAA", "AAAA", "YQ", "YQ=", "YQ==", "YQ===", "YR", "YQ=a"]
    fixed += [" YQ ", "Y Q", "YQ\n", "\tYQ", "Y\fQ", "YQ\r\n", "Y\u00a0Q", "YQ\u3000"]
    fixed += ["-_-_", "+/+/", "-_+/", "a=b", "====", "=", "ab!c", "abc.", "é", "Y\x00Q", "%3D"]
    rng = random.Random(8)
    alphabet = "ABCXYZabcxyz0189-_+/= \t\n!.é"
    fixed += ["".join(rng.choices(alphabet, k=rng.randint(0, 26))) for _ in range(300)]
    return fixed


def decoded_by_us(decode: Any, text: str) -> list[int] | None:
    try:
        return list(decode(text))
    except ProtocolError:
        return None


def test_base64url_and_atob_decode_exactly_as_upstream(upstream: UpstreamPage) -> None:
    """Upstream: fromBase64url (security/webcrypto.ts) maps - and _ to + and /, pads with = to a
    multiple of 4 and calls the browser's atob, which throws on anything outside the alphabet.
    Nonces, keys and signatures go through it. We must decode every input to the same bytes, and
    refuse exactly the inputs upstream refuses (a refused nonce is never signed)."""
    texts = corpus()
    theirs = upstream.call(
        """(pf, texts) => texts.map((t) => {
            const run = (f) => { try { return Array.from(f(t), (c) => typeof c === 'number' ? c : c.charCodeAt(0)); } catch { return null; } };
            return [run(pf.fromBase64url), run(atob)];
        })""",
        texts,
    )
    ours = [[decoded_by_us(b64url_decode, t), decoded_by_us(atob, t)] for t in texts]
    mismatches = [(t, o, u) for t, o, u in zip(texts, ours, theirs, strict=True) if o != u]
    assert mismatches == []
    assert any(u[0] is None for u in theirs) and any(u[0] is not None for u in theirs)


def test_signatures_verify_both_ways(upstream: UpstreamPage) -> None:
    """Upstream: signChallenge(privateKey, nonce) signs fromBase64url(nonce) with ECDSA P-256 /
    SHA-256 (raw r||s, base64url); verifyChallenge(publicKeyB64, nonce, signature) is true only
    for that signature and false for anything malformed. We must verify upstream's signatures
    over our nonces, and sign upstream's nonces so that verifyChallenge accepts them."""
    our_nonce = new_nonce()
    theirs = upstream.call(
        """async (pf, nonce) => {
            const c = pf.sessionCrypto;
            const pair = await c.generateSessionKeyPair();
            return {key: pair.publicKeyB64, signature: await c.signChallenge(pair.privateKey, nonce),
                    nonce: c.generateNonce()};
        }""",
        our_nonce,
    )
    assert verify(theirs["key"], our_nonce, theirs["signature"])
    assert not verify(theirs["key"], new_nonce(), theirs["signature"])
    assert len(b64url_decode(theirs["nonce"])) == 16

    key = PresenterKey.generate()
    signature = key.sign(theirs["nonce"])
    tampered = ("B" if signature[0] == "A" else "A") + signature[1:]
    results = upstream.call(
        """async (pf, key, nonce, signature, tampered, other) => [
            await pf.sessionCrypto.verifyChallenge(key, nonce, signature),
            await pf.sessionCrypto.verifyChallenge(key, nonce, tampered),
            await pf.sessionCrypto.verifyChallenge(key, other, signature),
        ]""",
        key.public_key,
        theirs["nonce"],
        signature,
        tampered,
        new_nonce(),
    )
    assert results == [True, False, False]


def test_a_malformed_nonce_is_refused_alike(upstream: UpstreamPage) -> None:
    """Upstream: signChallenge throws on a nonce atob refuses (so the presenter sends no answer)
    and verifyChallenge returns false. We must: sign nothing (ProtocolError) and verify nothing."""
    key = PresenterKey.generate()
    nonce = "not a nonce!"
    signed = upstream.call(
        """async (pf, nonce) => {
            const pair = await pf.sessionCrypto.generateSessionKeyPair();
            try { await pf.sessionCrypto.signChallenge(pair.privateKey, nonce); return 'signed'; }
            catch (e) { return e.name; }
        }""",
        nonce,
    )
    assert signed == "InvalidCharacterError"
    with pytest.raises(ProtocolError):
        key.sign(nonce)
    good = key.sign(new_nonce())
    assert (
        upstream.call(
            "(pf, k, n, s) => pf.sessionCrypto.verifyChallenge(k, n, s)",
            key.public_key,
            nonce,
            good,
        )
        is False
    )
    assert not verify(key.public_key, nonce, good)
