"""The sandbox's sign-in rules, with time as an argument: sessions expire, foreign cookies and
wrong tokens identify nobody."""

from __future__ import annotations

from bridge.sandbox.logins import MAX_SESSIONS, SandboxLogins, session_token

TOKEN = "glsa_test_token"


def logins(lifetime: float = 60.0) -> SandboxLogins:
    return SandboxLogins("admin", "secret", lifetime=lifetime, service_account_token=TOKEN)


def test_password_gives_a_session_that_expires() -> None:
    sandbox = logins(lifetime=10)
    token = sandbox.sign_in("admin", "secret", now=100.0)
    assert token
    cookie = f"theme=dark; grafana_session={token}"
    who = sandbox.identify(cookie, None, now=109.9)
    assert who is not None and who.login == "admin" and not who.service_account
    assert sandbox.identify(cookie, None, now=110.0) is None
    assert sandbox.identify(cookie, None, now=100.0) is None  # forgotten once expired


def test_wrong_password_and_wrong_types_sign_nobody_in() -> None:
    sandbox = logins()
    assert sandbox.sign_in("admin", "nope", 0) is None
    assert sandbox.sign_in("root", "secret", 0) is None
    assert sandbox.sign_in(["admin"], "secret", 0) is None
    assert sandbox.sign_in("admin", None, 0) is None


def test_foreign_and_malformed_cookies_identify_nobody() -> None:
    sandbox, other = logins(), logins()
    foreign = other.sign_in("admin", "secret", 0)
    assert sandbox.identify(f"grafana_session={foreign}", None, 1) is None
    for header in ("", "grafana_session=", 'grafana_session="unterminated', "x" * 5000, None):
        assert sandbox.identify(header, None, 1) is None


def test_service_account_token_only_as_bearer() -> None:
    sandbox = logins()
    who = sandbox.identify(None, f"Bearer {TOKEN}", 0)
    assert who is not None and who.service_account and who.api_user()["login"] == who.login
    assert sandbox.identify(None, f"bearer {TOKEN}", 0) is not None
    assert sandbox.identify(None, f"Basic {TOKEN}", 0) is None
    assert sandbox.identify(None, "Bearer glsa_other", 0) is None
    assert sandbox.identify(None, "Bearer", 0) is None
    no_token = SandboxLogins("admin", "secret", lifetime=60)
    assert no_token.identify(None, "Bearer ", 0) is None


def test_sign_out_ends_the_session() -> None:
    sandbox = logins()
    token = sandbox.sign_in("admin", "secret", 0)
    sandbox.sign_out(f"grafana_session={token}")
    assert sandbox.identify(f"grafana_session={token}", None, 1) is None


def test_sessions_are_bounded() -> None:
    sandbox = logins()
    first = sandbox.sign_in("admin", "secret", 0)
    for _ in range(MAX_SESSIONS):
        sandbox.sign_in("admin", "secret", 0)
    assert sandbox.identify(f"grafana_session={first}", None, 1) is None
    assert session_token("grafana_session=abc; other=1") == "abc"
