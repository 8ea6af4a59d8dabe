"""The bound presenter proof: it names one connection, a relayed one fails, and no plain
signature can pass for it."""

from __future__ import annotations

import dataclasses

import pytest

from bridge.errors import ProtocolError
from bridge.protocol.crypto import PresenterKey, b64url_encode, new_nonce, verify
from bridge.protocol.proof import ChannelBinding, sdp_fingerprint, sign_bound, verify_bound

FP_A = ":".join(["AB"] * 32)
FP_B = ":".join(["CD"] * 32)
FP_C = ":".join(["EF"] * 32)
VICTIM = ChannelBinding("victim-uuid", "abc123", FP_A, FP_B)


def test_a_bound_proof_verifies_for_its_own_connection_only() -> None:
    key = PresenterKey.generate()
    nonce = new_nonce()
    signature = sign_bound(key, nonce, VICTIM)
    assert verify_bound(key.public_key, nonce, VICTIM, signature)
    # What a relay obtains: the real presenter signs for the relay's own connection.
    for relayed in (
        dataclasses.replace(VICTIM, attendee_id="attacker"),
        dataclasses.replace(VICTIM, presenter_id="zzz999"),
        dataclasses.replace(VICTIM, attendee_fingerprint=FP_C),
        dataclasses.replace(VICTIM, presenter_fingerprint=FP_C),
    ):
        assert not verify_bound(key.public_key, nonce, VICTIM, sign_bound(key, nonce, relayed))
    assert not verify_bound(PresenterKey.generate().public_key, nonce, VICTIM, signature)
    assert not verify_bound(key.public_key, new_nonce(), VICTIM, signature)


def test_a_plain_signature_never_passes_for_a_bound_one_nor_the_reverse() -> None:
    key = PresenterKey.generate()
    nonce = new_nonce()
    assert not verify_bound(key.public_key, nonce, VICTIM, key.sign(nonce))
    assert not verify(key.public_key, nonce, sign_bound(key, nonce, VICTIM))
    # A relay cannot ask for a plain signature over the bound message either: plain
    # signatures are only made over 16 bytes, and the bound message is longer.
    bound_message = VICTIM.message(nonce)
    assert len(bound_message) > 16
    with pytest.raises(ProtocolError):
        key.sign(b64url_encode(bound_message))


def test_fields_cannot_be_shifted_from_one_part_to_the_next() -> None:
    nonce = new_nonce()
    a = ChannelBinding("ab", "c", FP_A, FP_B).message(nonce)
    b = ChannelBinding("a", "bc", FP_A, FP_B).message(nonce)
    assert a != b


def test_an_incomplete_binding_or_a_wrong_nonce_is_refused() -> None:
    key = PresenterKey.generate()
    with pytest.raises(ProtocolError):
        sign_bound(key, new_nonce(), dataclasses.replace(VICTIM, attendee_fingerprint=""))
    with pytest.raises(ProtocolError):
        sign_bound(key, b64url_encode(b"short"), VICTIM)
    assert not verify_bound(key.public_key, "not base64!", VICTIM, "sig")


def test_sdp_fingerprint() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=application 9 DTLS/SCTP 5000\r\n"
        f"a=fingerprint:sha-256 {FP_A.lower()}\r\na=fingerprint:sha-512 {FP_C}\r\n"
    )
    assert sdp_fingerprint(sdp) == FP_A
    assert sdp_fingerprint(sdp + f"a=fingerprint:sha-256 {FP_A}\r\n") == FP_A
    assert sdp_fingerprint(sdp + f"a=fingerprint:sha-256 {FP_B}\r\n") == ""  # ambiguous
    assert sdp_fingerprint("v=0\r\n") == ""
