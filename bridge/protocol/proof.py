"""The presenter's proof of identity bound to one data connection: our extension of upstream's.

Pathfinder's attendee sends a 16-byte nonce and the presenter signs those bytes. That proves
the key, not to whom the proof was given: whoever holds the presenter's peer id can pass a
victim's nonce to the real presenter over a connection of its own and relay the answer.

A join code from our presenter carries `"proof": "bound-v1"` (upstream's `parseJoinCode`
ignores it). Our attendee holding such a code sends `presenter_challenge` with the same field,
and accepts only a signature over a domain-separated message that names this very connection:
the attendee's and the presenter's peer ids (set by the signaling server, not by the peers) and
the sha-256 fingerprints of both DTLS certificates (which DTLS itself checks, so even a lying
signaling server cannot make two connections look alike). A relayed signature names the
relay's connection, never the victim's. Plain signatures are made only over exactly 16 bytes
and a bound message is always longer, so no plain signature is ever a bound one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.errors import ProtocolError
from bridge.protocol.crypto import NONCE_BYTES, PresenterKey, verify_bytes
from bridge.protocol.webbase64 import b64url_decode

#: The join code field, and the challenge and response field, that ask for the bound proof.
BOUND_PROOF = "bound-v1"
_CONTEXT = b"pathfinder-bridge presenter proof bound-v1\x00"
_FINGERPRINT = re.compile(r"^a=fingerprint:sha-256[ \t]+([0-9A-Fa-f:]+)[ \t]*\r?$", re.MULTILINE)


def sdp_fingerprint(sdp: str) -> str:
    """The sha-256 certificate fingerprint an SDP announces ('' when none or several differ)."""
    values = {value.upper() for value in _FINGERPRINT.findall(sdp)}
    return values.pop() if len(values) == 1 else ""


@dataclass(frozen=True)
class ChannelBinding:
    """What names one data connection, as each side sees it for itself."""

    attendee_id: str
    presenter_id: str
    attendee_fingerprint: str
    presenter_fingerprint: str

    @property
    def complete(self) -> bool:
        return all(
            (
                self.attendee_id,
                self.presenter_id,
                self.attendee_fingerprint,
                self.presenter_fingerprint,
            )
        )

    def message(self, nonce: str) -> bytes:
        """The bytes the bound proof signs: a fixed context, then each part length-prefixed."""
        nonce_bytes = b64url_decode(nonce)
        if len(nonce_bytes) != NONCE_BYTES:
            raise ProtocolError(f"a challenge nonce must be {NONCE_BYTES} bytes")
        if not self.complete:
            raise ProtocolError("this connection cannot be named (no peer id or fingerprint)")
        parts = [
            nonce_bytes,
            *(
                text.encode("utf-8")
                for text in (
                    self.attendee_id,
                    self.presenter_id,
                    self.attendee_fingerprint,
                    self.presenter_fingerprint,
                )
            ),
        ]
        return _CONTEXT + b"".join(len(part).to_bytes(2, "big") + part for part in parts)


def sign_bound(key: PresenterKey, nonce: str, binding: ChannelBinding) -> str:
    """The presenter's bound proof; ProtocolError when the nonce or the binding is unusable."""
    return key.sign_bytes(binding.message(nonce))


def verify_bound(public_key: str, nonce: str, binding: ChannelBinding, signature: str) -> bool:
    """True when `signature` is the bound proof for this nonce and this connection."""
    try:
        message = binding.message(nonce)
    except ProtocolError:
        return False
    return verify_bytes(public_key, message, signature)
