"""Presenter authentication: ECDSA P-256 / SHA-256, byte-compatible with WebCrypto.

The public key travels as SPKI DER, base64url without padding; signatures are WebCrypto's
raw 64-byte r||s form (not DER), base64url. What is signed is the nonce's base64url-*decoded*
bytes (16 random bytes), not its text: Pathfinder 2.16's `session-crypto.ts` signs and verifies
`fromBase64url(nonce)`, which `webbase64.b64url_decode` reproduces (the browser's `atob`).
Our presenter signs a plain nonce only when it is exactly 16 bytes, so a plain signature can
never stand for the longer bound proof (`proof.py`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from bridge.errors import ProtocolError
from bridge.protocol.webbase64 import b64url_decode, b64url_encode

_ALGORITHM = ec.ECDSA(hashes.SHA256())
#: The length of a challenge nonce, decoded (Pathfinder's `generateNonce`).
NONCE_BYTES = 16


def new_nonce() -> str:
    """16 random bytes, base64url: the attendee's challenge."""
    return b64url_encode(secrets.token_bytes(16))


@dataclass(frozen=True)
class PresenterKey:
    """The presenter's signing key; its public half goes into the join code."""

    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> PresenterKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64url_encode(der)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def from_pem(cls, data: bytes) -> PresenterKey:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise ProtocolError("not a PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ProtocolError("the session key must be ECDSA P-256")
        return cls(key)

    def sign(self, nonce: str) -> str:
        """Sign the challenge `nonce` as Pathfinder does: its decoded bytes, not its text.

        A nonce that is not base64url, or not 16 bytes once decoded, raises ProtocolError
        (upstream's `atob` throws on the first and the attendee gets no answer).
        """
        data = b64url_decode(nonce)
        if len(data) != NONCE_BYTES:
            raise ProtocolError(f"a challenge nonce must be {NONCE_BYTES} bytes")
        return self.sign_bytes(data)

    def sign_bytes(self, data: bytes) -> str:
        """A raw r||s signature of `data`, base64url, as WebCrypto's `sign` returns it."""
        der = self.private_key.sign(data, _ALGORITHM)
        r, s = decode_dss_signature(der)
        return b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def verify(public_key: str, nonce: str, signature: str) -> bool:
    """True when `signature` (raw r||s, base64url) signs the decoded bytes of `nonce` under
    `public_key` (SPKI); False for anything malformed, as Pathfinder's `verifyChallenge`."""
    try:
        data = b64url_decode(nonce)
    except ProtocolError:
        return False
    return verify_bytes(public_key, data, signature)


def verify_bytes(public_key: str, data: bytes, signature: str) -> bool:
    """True when `signature` (raw r||s, base64url) signs `data` under `public_key` (SPKI)."""
    try:
        key = serialization.load_der_public_key(b64url_decode(public_key))
        raw = b64url_decode(signature)
    except (ProtocolError, ValueError):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return False
    if len(raw) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, data, _ALGORITHM)
    except InvalidSignature:
        return False
    return True
