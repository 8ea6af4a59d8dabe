import pytest

from bridge.errors import ProtocolError
from bridge.protocol.crypto import PresenterKey, new_nonce, verify
from bridge.protocol.webbase64 import b64url_decode, b64url_encode


def test_sign_and_verify() -> None:
    key = PresenterKey.generate()
    nonce = new_nonce()
    signature = key.sign(nonce)
    assert len(b64url_decode(signature)) == 64 and "=" not in signature
    assert verify(key.public_key, nonce, signature)


def test_wrong_key_nonce_or_garbage_fails() -> None:
    key, other = PresenterKey.generate(), PresenterKey.generate()
    nonce = new_nonce()
    signature = key.sign(nonce)
    assert not verify(other.public_key, nonce, signature)
    assert not verify(key.public_key, new_nonce(), signature)
    assert not verify(key.public_key, nonce, signature[:-4])
    assert not verify("not-a-key", nonce, signature)
    assert not verify(key.public_key, nonce, "!!!")


def test_nonce_is_16_bytes_base64url() -> None:
    assert len(b64url_decode(new_nonce())) == 16


def test_the_signed_data_is_the_decoded_nonce_as_in_pathfinder() -> None:
    # Pathfinder 2.16 session-crypto.ts: signBytes(privateKey, fromBase64url(nonce)).
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = PresenterKey.generate()
    nonce = new_nonce()
    raw = b64url_decode(key.sign(nonce))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.private_key.public_key().verify(der, b64url_decode(nonce), ec.ECDSA(hashes.SHA256()))
    # ... and not the nonce's text: a signature over the UTF-8 text does not verify.
    text_der = key.private_key.sign(nonce.encode(), ec.ECDSA(hashes.SHA256()))
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(text_der)
    text_sig = b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    assert not verify(key.public_key, nonce, text_sig)


def test_a_malformed_nonce_is_neither_signed_nor_verified() -> None:
    key = PresenterKey.generate()
    with pytest.raises(ProtocolError):
        key.sign("not base64url!")
    assert not verify(key.public_key, "not base64url!", key.sign(new_nonce()))


def test_plain_signatures_are_only_made_over_16_bytes() -> None:
    # So that no plain signature can ever stand for a (longer) bound proof.
    key = PresenterKey.generate()
    for size in (0, 15, 17, 64):
        with pytest.raises(ProtocolError, match="16 bytes"):
            key.sign(b64url_encode(b"\x01" * size))
