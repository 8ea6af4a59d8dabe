import base64
import json
import re

import pytest

from bridge.protocol.joincode import JoinCode, JoinCodeError, new_session_id


def test_encode_is_base64_of_compact_json_in_pathfinder_order() -> None:
    code = JoinCode("abc123", "Demo", "https://grafana.com/docs/x", "KEY").encode()
    assert (
        base64.b64decode(code)
        == b'{"id":"abc123","name":"Demo","url":"https://grafana.com/docs/x","pubkey":"KEY"}'
    )
    assert JoinCode.parse(code) == JoinCode("abc123", "Demo", "https://grafana.com/docs/x", "KEY")


def test_unicode_names_round_trip() -> None:
    code = JoinCode("abc123", "Démo ✓").encode()
    assert JoinCode.parse(code).name == "Démo ✓"
    # Pathfinder reads JSON.parse(atob(code)): Latin-1 bytes. Ours are pure ASCII, so it
    # reads the same name.
    assert '"name":"D\\u00e9mo \\u2713"' in base64.b64decode(code).decode("ascii")


def test_codes_of_pathfinders_btoa_are_latin1() -> None:
    # Pathfinder's generateJoinCode is btoa(JSON.stringify(...)): "é" is the byte 0xE9.
    code = base64.b64encode('{"id":"abc123","name":"Café","url":"","pubkey":"k"}'.encode("latin-1"))
    assert JoinCode.parse(code.decode()) == JoinCode("abc123", "Café", "", "k")


def test_read_as_atob_reads() -> None:
    code = JoinCode("abc123", "n", "u", "k").encode()
    assert JoinCode.parse(code[:10] + "\n " + code[10:]) == JoinCode.parse(code)  # whitespace
    assert JoinCode.parse("AB12CD") == JoinCode("ab12cd")  # bare ids are lowercased
    with pytest.raises(JoinCodeError):  # atob knows no URL alphabet
        JoinCode.parse(base64.urlsafe_b64encode(b'{"id":"abc123","name":"\xfb\xff"}').decode())


def test_alternate_keys_legacy_and_urls() -> None:
    alt = base64.b64encode(
        json.dumps({"id": "zz9999", "tutorialUrl": "u", "sessionPublicKey": "k"}).encode()
    ).decode()
    assert JoinCode.parse(alt) == JoinCode("zz9999", "", "u", "k")
    assert JoinCode.parse("  ab12cd \n") == JoinCode("ab12cd")
    assert JoinCode.parse("ab12cd").is_legacy
    code = JoinCode("abc123", "n", "u", "k")
    url = code.join_url("http://127.0.0.1:3000/")
    assert url.startswith("http://127.0.0.1:3000/a/grafana-grafanadocsplugin-app?session=")
    assert "=" not in url.split("session=")[1]  # padding is percent-encoded
    assert JoinCode.parse(url) == code
    assert JoinCode.parse(code.encode().rstrip("=")) == code  # padding lost in copy-paste
    # Pathfinder's parseSessionFromUrl: non-empty sessionName / tutorialUrl parameters win.
    assert JoinCode.parse(url + "&sessionName=Caf%C3%A9&tutorialUrl=") == JoinCode(
        "abc123", "Café", "u", "k"
    )


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "empty"),
        ("not a code!", "not a Pathfinder join code"),
        (base64.b64encode(b"[1,2]").decode(), "does not hold a session"),
        (base64.b64encode(b'{"name":"x"}').decode(), "no valid session id"),
        (base64.b64encode(b'{"id":"a b"}').decode(), "no valid session id"),
        (base64.b64encode(b'{"id":"abc","url":5}').decode(), "url is not valid"),
        ("http://g/a/x?other=1", "no session parameter"),
        ("A" * 9000, "too long"),
    ],
)
def test_bad_codes_say_what_to_do(text: str, hint: str) -> None:
    with pytest.raises(JoinCodeError, match=hint):
        JoinCode.parse(text)


def test_session_ids() -> None:
    ids = {new_session_id() for _ in range(200)}
    assert len(ids) > 190
    assert all(re.fullmatch(r"[a-z0-9]{6}", i) for i in ids)
