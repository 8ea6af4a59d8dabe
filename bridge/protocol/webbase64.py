"""Base64 as the browser and Pathfinder do it: `atob`, and Pathfinder's base64url.

Pathfinder 2.16 decodes join codes with `atob` (join-code-utils.ts) and nonces, keys and
signatures with `fromBase64url` (security/webcrypto.ts), which is `atob` after mapping the URL
alphabet back. `atob` is strict where Python's decoders are lenient: a character outside the
alphabet is an error, never skipped. Ours refuse exactly what the browser refuses.
"""

from __future__ import annotations

import base64
import binascii
import string

from bridge.errors import ProtocolError

_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/")
_ASCII_WHITESPACE = frozenset("\t\n\f\r ")


def atob(text: str) -> bytes:
    """The browser's `atob`: WHATWG forgiving-base64 decode, or ProtocolError where it throws.

    ASCII whitespace is removed, one or two final "=" are allowed on a length divisible by 4,
    and anything else outside the base64 alphabet is an error.
    """
    data = "".join(ch for ch in text if ch not in _ASCII_WHITESPACE)
    if len(data) % 4 == 0:
        data = data[:-2] if data.endswith("==") else data[:-1] if data.endswith("=") else data
    if len(data) % 4 == 1 or not _ALPHABET.issuperset(data):
        raise ProtocolError("not base64")
    try:
        # Non-strict a2b_base64 drops the leftover bits of a short final group, as atob does.
        return binascii.a2b_base64(data + "=" * (-len(data) % 4))
    except binascii.Error:
        raise ProtocolError("not base64") from None


def b64url_encode(data: bytes) -> str:
    """Pathfinder's `toBase64url`: base64 with - and _, without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Pathfinder's `fromBase64url`: "-" and "_" become "+" and "/", then pad and `atob`."""
    padded = text.replace("-", "+").replace("_", "/")
    try:
        return atob(padded + "=" * (-len(padded) % 4))
    except ProtocolError:
        raise ProtocolError("not base64url") from None
