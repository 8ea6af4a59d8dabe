from bridge.protocol.crypto import PresenterKey, b64url_decode, new_nonce, verify


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
