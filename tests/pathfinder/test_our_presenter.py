"""Our `pathfinder-bridge present` with Pathfinder's own SessionManager as attendees.

Upstream attendees run `parseJoinCode` + `joinSession` (session-manager.ts) in Chromium against
the real CLI, with its presenter heartbeat shortened so latency shows within a second.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Error as PlaywrightError

from bridge.protocol.crypto import PresenterKey
from bridge.protocol.joincode import JoinCode
from tests.conftest import UNIT
from tests.pathfinder.events import EVENTS, GUIDE
from tests.pathfinder.upstream import UpstreamPage
from tests.servers import CliProcess

#: Our heartbeat every 0.5 s instead of Pathfinder's 5 s: latency is measured within a second.
FAST_HEARTBEAT = {"PATHFINDER_BRIDGE_CLIENT_HEARTBEAT_INTERVAL": "0.5"}


@pytest.fixture
def presenter(signaling_url: str) -> Iterator[CliProcess]:
    with CliProcess(
        "present",
        "--no-browser",
        "--server",
        signaling_url,
        "--name",
        "Interop",
        "--guide",
        GUIDE,
        "--status-interval",
        "0.3",
        stdin=True,
        env=FAST_HEARTBEAT,
    ) as process:
        yield process


def join_code(presenter: CliProcess) -> str:
    return presenter.wait_for(lambda line: line.startswith("Join code: "), 20 * UNIT).split(": ")[1]


def test_upstream_attendee_in_our_session(
    upstream: UpstreamPage, signaling_url: str, presenter: CliProcess
) -> None:
    code = join_code(presenter)
    # Upstream: joinSession sends presenter_challenge, verifies the presenter_response against
    # the join code's key, and only then sends attendee_join (it rejects the promise otherwise).
    # We must answer with a signature verifyChallenge accepts, then add the attendee.
    ada = upstream.attend(signaling_url, code, "Ada", "guided")
    presenter.wait_for(lambda line: line == "+ Ada joined (guided mode)", 10 * UNIT)

    # Upstream: the presenter answers attendee_join with session_start {sessionId, config:
    # {name, tutorialUrl, defaultMode}}, which opens the guide. We must send the same.
    [start] = ada.wait_events(1, "session_start")
    assert start["config"] == {"name": "Interop", "tutorialUrl": GUIDE, "defaultMode": "guided"}
    assert start["sessionId"] == JoinCode.parse(code).id
    # Our extension: a joiner also gets sync_state (guide and step) at once; upstream's
    # attendee passes it to its handlers and its replay ignores it.
    [sync] = ada.wait_events(1, "sync_state")
    assert (sync["tutorialUrl"], sync["stepNumber"]) == (GUIDE, 0)

    # Upstream: every event from the presenter reaches onEvent as sent, in order; BinaryPack
    # carries Unicode and 64-bit timestamps, and PeerJS reassembles chunked messages. We must
    # emit Pathfinder's field names and base fields (sessionId, timestamp, senderId).
    for event in EVENTS:
        presenter.write(json.dumps(event))
    expected_types = [e["type"] for e in EVENTS]
    received = ada.wait_events(1 + len(EVENTS), *set(expected_types))[1:]
    assert [e["type"] for e in received] == expected_types
    for sent, got in zip(EVENTS, received, strict=True):
        assert {key: got[key] for key in sent} == sent
        assert got["sessionId"] == start["sessionId"] and got["senderId"] == "presenter"
        assert isinstance(got["timestamp"], int) and got["timestamp"] >= start["timestamp"]
    assert len(received[-2]["action"]["targetValue"]) > 16_300

    # Upstream: the attendee echoes each heartbeat with senderId "attendee" and the same
    # sentAt. We must measure latency from that echo: our attendee table shows it.
    row = presenter.wait_for(lambda line: line.lstrip().startswith("Ada ") and " ms " in line)
    assert re.search(r"\b\d+ ms\s+(excellent|good)\b", row)
    assert ada.events("heartbeat")[0]["sentAt"] > 0

    # Upstream's UI sends mode_change and hand_raise through sendToPresenter. We must show both.
    base = {"sessionId": start["sessionId"], "senderId": "attendee"}
    ada.send({**base, "type": "mode_change", "timestamp": 1, "mode": "follow"})
    presenter.wait_for(lambda line: line == "~ Ada: mode changed: follow")
    ada.send(
        {**base, "type": "hand_raise", "timestamp": 2, "attendeeName": "Ada", "isRaised": True}
    )
    presenter.wait_for(lambda line: line == "? Ada: hand raised: raised")

    assert ada.errors == []

    # Upstream: endSession() sends attendee_leave, then destroys its peer at once (its own
    # close handler then reports 'Connection to presenter lost'). We must drop the attendee.
    ada.end()
    presenter.wait_for(lambda line: line == "- Ada left")


def test_session_end_reaches_upstream_attendees(
    upstream: UpstreamPage, signaling_url: str, presenter: CliProcess
) -> None:
    """Upstream: session_end {sessionId, timestamp} reaches onEvent, then the closed connection
    is reported as 'Connection to presenter lost'. We must send session_end before closing."""
    code = join_code(presenter)
    grace = upstream.attend(signaling_url, code, "Grace", "follow")
    presenter.wait_for(lambda line: line == "+ Grace joined (follow mode)")
    assert presenter.stop() == 0
    [end] = grace.wait_events(1, "session_end")
    assert end["sessionId"] == JoinCode.parse(code).id
    grace.wait("s => s.errors.some(e => e.message === 'Connection to presenter lost')")


def test_upstream_attendee_refuses_a_presenter_without_the_key(
    upstream: UpstreamPage, our_server: str
) -> None:
    """Upstream: verifyChallenge fails against a join code whose key the presenter does not
    hold; joinSession closes the connection and rejects (its close handler runs first, so the
    reason reads 'Connection closed before presenter identity verification completed'), and
    attendee_join is never sent. We must make that check mean something: our signature
    verifies only under our own key."""
    with CliProcess("present", "--no-browser", "--server", our_server, stdin=True) as ours:
        real = JoinCode.parse(join_code(ours))
        forged = JoinCode(real.id, real.name, real.url, PresenterKey.generate().public_key)
        with pytest.raises(PlaywrightError, match="presenter identity verification"):
            upstream.attend(our_server, forged.encode(), "Eve", "guided")
        assert not any("Eve" in line for line in ours.seen)
