"""Base64 as the browser and Pathfinder decode it (the tier in tests/pathfinder compares these
with upstream's fromBase64url and Chromium's atob over a larger corpus)."""

import pytest

from bridge.errors import ProtocolError
from bridge.protocol.webbase64 import atob, b64url_decode, b64url_encode


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("", b""),
        ("YQ", b"a"),
        ("YQ==", b"a"),  # atob accepts padding
        ("YWJj", b"abc"),
        ("-_-_", b"\xfb\xff\xbf"),
        ("+/+/", b"\xfb\xff\xbf"),  # fromBase64url leaves + and / alone
        (" YQ ", b"a"),  # atob strips ASCII whitespace
        ("YR", b"a"),  # leftover bits are discarded, as atob does
    ],
)
def test_b64url_decode_is_pathfinders_from_base64url(text: str, decoded: bytes) -> None:
    assert b64url_decode(text) == decoded


@pytest.mark.parametrize(
    "text", ["Y", " Y Q ", "YQ=a", "Y!Q", "YQ.", "YQ===", "é", "YQ\u00a0", "Y\x00Q"]
)
def test_b64url_decode_refuses_what_atob_refuses(text: str) -> None:
    with pytest.raises(ProtocolError):
        b64url_decode(text)


def test_atob_keeps_the_standard_alphabet_only() -> None:
    assert atob("+/+/") == b"\xfb\xff\xbf"
    assert atob("YQ") == b"a"  # padding may be missing
    for text in ("-_-_", "YQ=", "Y"):
        with pytest.raises(ProtocolError):
            atob(text)


def test_b64url_encode_has_no_padding() -> None:
    assert b64url_encode(b"\xfb\xff") == "-_8"
    assert b64url_decode(b64url_encode(bytes(range(256)))) == bytes(range(256))
