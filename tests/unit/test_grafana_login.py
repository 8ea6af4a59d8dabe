"""The login rules, as plain function calls: which login the flags pick, which cookies a saved
login sends where, expiry, and that the token and secrets go nowhere else."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from bridge.grafana.login import (
    MAX_COOKIES,
    GrafanaLogin,
    LoginError,
    LoginKind,
    StorageState,
    choose_login,
    same_origin,
)
from bridge.grafana.state_file import read_saved_login, write_saved_login

GRAFANA = "https://grafana.example.com"


def cookie(name: str, domain: str, **extra: object) -> dict[str, object]:
    return {"name": name, "value": f"v-{name}", "domain": domain, "path": "/", **extra}


STATE = StorageState.from_json(
    json.dumps(
        {
            "cookies": [
                cookie("grafana_session", "grafana.example.com", expires=2_000_000_000),
                cookie("wide", ".example.com"),
                cookie("idp", "login.identity.example"),
                cookie("scoped", "grafana.example.com", path="/api"),
                cookie("secure_only", "grafana.example.com", secure=True),
            ],
            "origins": [
                {"origin": GRAFANA, "localStorage": [{"name": "k", "value": "v"}]},
                {"origin": "https://login.identity.example", "localStorage": []},
            ],
        }
    ),
    "state.json",
)


def test_cookies_follow_the_browser_rules() -> None:
    names = lambda url: sorted(c.name for c in STATE.cookies_for(url))  # noqa: E731
    assert names(f"{GRAFANA}/d/x") == ["grafana_session", "secure_only", "wide"]
    assert names(f"{GRAFANA}/api/user") == ["grafana_session", "scoped", "secure_only", "wide"]
    assert names("http://grafana.example.com/") == ["grafana_session", "wide"]
    assert names("https://other.example.com/") == ["wide"]
    assert names("https://evil-example.com/") == []


def test_for_grafana_keeps_nothing_of_the_identity_provider() -> None:
    mine = STATE.for_grafana(GRAFANA)
    assert "idp" not in {c.name for c in mine.cookies}
    assert [o["origin"] for o in mine.origins] == [GRAFANA]
    assert StorageState.from_json(mine.to_json(), "again") == mine


def test_expiry_and_other_hosts_are_explained() -> None:
    STATE.check_usable(GRAFANA, now=1_000_000_000, source="state.json")
    only_session = StorageState(tuple(c for c in STATE.cookies if c.name == "grafana_session"))
    with pytest.raises(LoginError, match=r"expired at 2033-05-18 03:33:20 UTC; sign in again"):
        only_session.check_usable(GRAFANA, now=2_000_000_000, source="state.json")
    with pytest.raises(LoginError, match=r"holds no login for grafana.other.org \(it was saved"):
        STATE.check_usable("https://grafana.other.org", now=0, source="state.json")
    with pytest.raises(LoginError, match=r"it holds no cookies"):
        StorageState().check_usable(GRAFANA, now=0, source="empty.json")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"cookies": {}}',
        '{"cookies": [{"name": "x"}]}',
        '{"cookies": [{"name": "x", "value": "y", "domain": "d", "expires": "soon"}]}',
        '{"cookies": [{"name": "x", "value": "y", "domain": "d", "sameSite": "Whatever"}]}',
        '{"origins": [{"origin": "x", "localStorage": [1]}]}',
        "[" * 100_000,
        json.dumps({"cookies": [cookie("c", "d")] * (MAX_COOKIES + 1)}),
        "x" * (2 << 20),
    ],
)
def test_malformed_states_are_refused_with_the_file_named(text: str) -> None:
    with pytest.raises(LoginError, match=r"^bad\.json "):
        StorageState.from_json(text, "bad.json")


def test_token_goes_to_the_grafana_origin_only() -> None:
    login = choose_login(token="glsa_abc", environ={})
    assert login.headers_for(f"{GRAFANA}/api/user", GRAFANA, 0) == {
        "Authorization": "Bearer glsa_abc"
    }
    for elsewhere in (
        "https://cdn.example.com/app.js",
        "http://grafana.example.com/",  # another scheme is another origin
        "https://grafana.example.com:8443/",
        "wss://grafana.example.com/api/live",
        "javascript:alert(1)",
    ):
        assert login.headers_for(elsewhere, GRAFANA, 0) == {}, elsewhere
    assert same_origin("https://GRAFANA.example.com:443/x", GRAFANA)


def test_saved_login_sends_only_live_cookies_to_grafana() -> None:
    login = GrafanaLogin(LoginKind.SAVED, "state.json", state=STATE)
    assert login.headers_for(f"{GRAFANA}/", GRAFANA, 0) == {
        "Cookie": "grafana_session=v-grafana_session; wide=v-wide; secure_only=v-secure_only"
    }
    assert login.headers_for("https://other.example.com/", GRAFANA, 0) == {}


def test_choose_login_flags_before_environment() -> None:
    environ = {"GRAFANA_TOKEN": "glsa_env", "GRAFANA_USER": "u", "GRAFANA_PASSWORD": "p"}
    assert choose_login(environ=environ).source == "GRAFANA_TOKEN"
    assert choose_login(token="glsa_flag", environ=environ).source == "--token"
    assert choose_login(storage_state=("s.json", STATE), environ=environ).kind is LoginKind.SAVED
    by_password = choose_login(user="admin", environ=environ)
    assert (by_password.kind, by_password.user, by_password.source) == (
        LoginKind.PASSWORD,
        "admin",
        "GRAFANA_PASSWORD",
    )
    assert choose_login(environ={"GRAFANA_USER": "u", "GRAFANA_PASSWORD": "p"}).user == "u"
    assert choose_login(environ={}).kind is LoginKind.NONE
    with pytest.raises(LoginError, match="not --storage-state and --token"):
        choose_login(storage_state=("s.json", STATE), token="t", environ={})
    with pytest.raises(LoginError, match="--user and --password go together"):
        choose_login(user="admin", environ={})
    for bad in ("", "two words", "glsa_\x1b[2J", "x" * 5000):
        with pytest.raises(LoginError, match="--token: not a service-account token"):
            choose_login(token=bad, environ={})


def test_secrets_are_never_described_or_repr() -> None:
    logins = [
        choose_login(token="glsa_SECRET", environ={}),
        choose_login(user="admin", password="SECRET", environ={}),
        GrafanaLogin(LoginKind.SAVED, "state.json", state=STATE),
        GrafanaLogin(),
    ]
    for login in logins:
        for text in (login.describe(), repr(login), str(login), str(login.refused(GRAFANA))):
            assert "SECRET" not in text and "v-grafana_session" not in text, text
    assert [login.describe() for login in logins] == [
        "service-account token from --token",
        "user admin (password from --password)",
        "saved login state.json",
        "none (anonymous)",
    ]


def test_saved_login_file_is_private_and_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "nested" / "state.json"
    write_saved_login(path, STATE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_saved_login(path) == STATE
    path.chmod(0o644)
    write_saved_login(path, STATE)  # replaced, not reused with its wider mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o640)
    with caplog.at_level(logging.WARNING, logger="bridge.grafana"):
        read_saved_login(path)
    assert f"chmod 600 {path}" in caplog.text
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]  # no temporary left
