"""The doctor's judgement as plain function calls: observations in, ok or a problem with what to
do out; cases the live tests cannot stage on loopback (mixed content, a page that is not a
secure context, a sandboxed Chromium) are judged here."""

from __future__ import annotations

import json

import pytest

from bridge.doctor.checks import (
    ChromiumObservation,
    GrafanaObservation,
    IceServerObservation,
    IceUrl,
    PageObservation,
    PresenterObservation,
    SignalingObservation,
    judge_chromium,
    judge_grafana,
    judge_ice,
    judge_page,
    judge_presenter,
    judge_signaling,
    sandboxed,
)
from bridge.doctor.report import Check, DoctorReport, Status

SIGNALING = "http://127.0.0.1:9000/pathfinder"
OPEN = '{"type":"OPEN"}'


def healthy_signaling(**changes: object) -> SignalingObservation:
    values: dict[str, object] = {
        "description_status": 200, "is_peerjs": True, "id_status": 200, "peers_status": 401,
        "socket": "open",
    }  # fmt: skip
    values.update(changes)
    return SignalingObservation(SIGNALING, "pathfinder", **values)  # type: ignore[arg-type]


def test_signaling_verdicts() -> None:
    assert judge_signaling(healthy_signaling()).status is Status.OK
    discovery = judge_signaling(healthy_signaling(peers_status=200))
    assert discovery.status is Status.OK and "discovery on" in discovery.summary
    assert discovery.advice[0].startswith("turn allow_discovery off")
    refused = judge_signaling(healthy_signaling(id_status=401, socket="Invalid key provided"))
    assert refused.status is Status.PROBLEM and "refuses the key" in refused.summary
    proxy = judge_signaling(healthy_signaling(socket="HTTP 400 on the WebSocket upgrade"))
    assert "WebSocket upgrades" in proxy.advice[0]
    down = judge_signaling(
        SignalingObservation(SIGNALING, "pathfinder", error="Connection refused")
    )
    assert down.summary == f"cannot reach {SIGNALING}: Connection refused"


def page(**changes: object) -> PageObservation:
    values: dict[str, object] = {
        "page_origin": "http://127.0.0.1:3000", "secure_context": True, "web_crypto": True,
        "fetch_status": 200, "socket": OPEN,
    }  # fmt: skip
    values.update(changes)
    return PageObservation("http://127.0.0.1:3000", SIGNALING, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "summary", "advice"),
    [
        (
            {"socket": "error", "fetch_status": 0, "fetch_error": "TypeError: Failed to fetch",
             "console": ("WebSocket ... net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS",)},
            "Local Network Access", "same kind of address",
        ),
        (
            {"socket": "error", "fetch_status": 0, "page_origin": "https://grafana.example.com",
             "console": ("Mixed Content: The page at 'https://grafana.example.com/' was loaded",)},
            "Chromium blocks mixed content", "over TLS too",
        ),
        (
            {"socket": "closed 1006", "fetch_status": 0,
             "console": ("has been blocked by CORS policy: No 'Access-Control-Allow-Origin'",)},
            "does not let pages of", "server.allowed_origins",
        ),
        (
            {"socket": "timeout", "fetch_status": 0, "fetch_error": "TypeError: Failed to fetch"},
            "cannot reach", "firewall, proxy",
        ),
        (
            {"secure_context": False, "web_crypto": False, "page_origin": "http://grafana.lan"},
            "not a secure context: WebCrypto is missing", "serve Grafana over https",
        ),
    ],
)  # fmt: skip
def test_page_problems_name_the_cause(
    changes: dict[str, object], summary: str, advice: str
) -> None:
    check = judge_page(page(**changes))
    assert check.status is Status.PROBLEM
    assert summary in check.summary and advice in " ".join(check.advice), check


def test_page_that_reaches_the_server() -> None:
    check = judge_page(page(socket_ms=12.0))
    assert check.status is Status.OK and check.figures == {"websocket_ms": 12.0}


def test_chromium_sandbox() -> None:
    assert sandboxed("Sandbox Status\n...\nYou are adequately sandboxed.") is True
    assert sandboxed("You are NOT adequately sandboxed.") is False
    assert sandboxed("") is None
    on = ChromiumObservation("/c", version="156", sandbox_page="You are adequately sandboxed.")
    assert judge_chromium(on).summary.endswith("sandbox on")
    off = ChromiumObservation("/c", version="156", sandbox_page="You are NOT adequately sandboxed.")
    assert judge_chromium(off).status is Status.PROBLEM
    assert "remove --no-sandbox" in judge_chromium(off).advice[0]
    as_root = ChromiumObservation("/c", version="156", sandbox_page=off.sandbox_page, as_root=True)
    assert judge_chromium(as_root).status is Status.OK
    broken = judge_chromium(ChromiumObservation("", error="Executable doesn't exist"))
    assert broken.status is Status.PROBLEM and "Playwright's own Chromium" in broken.summary


def test_grafana_version_and_table() -> None:
    ok = judge_grafana(
        GrafanaObservation("http://g", version="11.3.1", database="ok", selector_table="11.0.0")
    )
    assert ok.status is Status.OK and ok.summary.endswith("selector table 11.0.0")
    hidden = judge_grafana(GrafanaObservation("http://g", database="ok", selector_table="11.0.0"))
    assert hidden.status is Status.OK and "browser.grafana_version" in hidden.advice[0]
    pinned = judge_grafana(
        GrafanaObservation("http://g", version="12.1.0", configured_version="13.2.3")
    )
    assert "Grafana 13.2.3" in pinned.summary and "browser.grafana_version" in pinned.details[0]
    unwell = judge_grafana(GrafanaObservation("http://g", version="12.0.0", database="failing"))
    assert unwell.status is Status.PROBLEM


def test_presenter_verdicts() -> None:
    ok = judge_presenter(
        PresenterObservation("abc123", found=True, verified=True, guide="https://g/x")
    )
    assert ok.status is Status.OK and ok.summary.endswith("on guide https://g/x")
    legacy = judge_presenter(PresenterObservation("abc123", legacy=True, found=True))
    assert legacy.status is Status.OK and "cannot be verified" in legacy.summary
    missing = judge_presenter(PresenterObservation("abc123"))
    assert missing.summary == "no session 'abc123' on this signaling server"
    silent = judge_presenter(PresenterObservation("abc123", found=True, error="no data channel"))
    assert "TURN" in silent.advice[0]


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("stun:stun.example.com", IceUrl("stun", "stun.example.com", 3478, "udp")),
        ("turn:10.0.0.1:3479?transport=tcp", IceUrl("turn", "10.0.0.1", 3479, "tcp")),
        ("turns:turn.example.com", IceUrl("turns", "turn.example.com", 5349, "tcp")),
        ("turn:[::1]:3478", IceUrl("turn", "::1", 3478, "udp")),
    ],
)
def test_ice_urls(url: str, parsed: IceUrl) -> None:
    assert IceUrl.parse(url) == parsed
    assert IceUrl.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    "url", ["http://x", "turn:", "turn:host:99999", "turn:host:x", "stun:h?transport=sctp"]
)
def test_bad_ice_urls(url: str) -> None:
    with pytest.raises(ValueError):
        IceUrl.parse(url)


def test_ice_verdicts() -> None:
    assert judge_ice([]).status is Status.OK
    check = judge_ice(
        [
            IceServerObservation("stun:s:3478", binding_ms=1.5),
            IceServerObservation("turn:t:3478?transport=udp", error="401 - Unauthorized"),
            IceServerObservation("turn:u:3478?transport=udp", error="no answer"),
        ]
    )
    assert check.status is Status.PROBLEM and check.summary == "2 of 3 do not work"
    assert check.advice[0].startswith("check username and credential")
    assert check.advice[1].startswith("no answer: a firewall may block it")
    unchecked = judge_ice([IceServerObservation("stuns:s:5349")])
    assert unchecked.status is Status.OK
    assert unchecked.details == ("stuns:s:5349: not checked (STUN over TCP or TLS)",)


def test_report_json_and_verdict() -> None:
    report = DoctorReport()
    report.add(Check("a", "A", "topic", Status.OK, "fine", figures={"ms": 1.234}))
    assert report.ok and report.verdict() == "No problems found."
    report.add(Check("b", "B", "topic", Status.PROBLEM, "broken", ("fix it",)))
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["checks"][0]["figures"] == {"ms": 1.23}
    assert data["checks"][1]["advice"] == ["fix it"]
    assert report.verdict() == "1 problem found." and not report.passed("b")
