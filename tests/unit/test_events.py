"""Session events: every type parses from Pathfinder's shapes and round-trips, bad input is refused."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ProtocolError
from bridge.protocol import binarypack
from bridge.protocol.events import (
    EVENT_TYPES,
    AttendeeJoin,
    AttendeeMode,
    DoIt,
    EventLimits,
    Heartbeat,
    PresenterChallenge,
    PresenterResponse,
    SessionEnd,
    ShowMe,
    TargetAction,
    parse_event,
    parse_message,
)

BASE = {"sessionId": "abc123", "timestamp": 1732550000000, "senderId": "presenter"}
SAMPLES: dict[str, dict[str, Any]] = {
    "show_me": {
        "stepId": "s1",
        "action": {
            "targetAction": "highlight",
            "refTarget": "a[href='/x']",
            "targetValue": None,
            "targetComment": "Look here",
        },
        "coordinates": {"x": 10, "y": 20.5},
    },
    "do_it": {
        "stepId": "s2",
        "action": {
            "targetAction": "multistep",
            "refTarget": "",
            "internalActions": [
                {"targetAction": "button", "refTarget": "Save"},
                {"targetAction": "formfill", "refTarget": "#q", "targetValue": "up"},
            ],
        },
    },
    "navigation": {"tutorialUrl": "https://grafana.com/docs/x", "stepNumber": 3},
    "sync_state": {"tutorialUrl": "u", "stepNumber": 2},
    "attendee_join": {"name": "Ada", "mode": "follow"},
    "attendee_leave": {},
    "mode_change": {"mode": "guided"},
    "attendee_status": {
        "status": "error",
        "currentStep": "s1",
        "mode": "follow",
        "error": "not found",
    },
    "session_start": {"config": {"name": "Demo", "tutorialUrl": "u", "defaultMode": "guided"}},
    "session_end": {"reason": "done"},
    "pause": {},
    "resume": {},
    "end": {"message": "bye"},
    "heartbeat": {"sentAt": 1732550000000},
    "hand_raise": {"attendeeName": "Ada", "isRaised": True},
    "chat_message": {"senderName": "Ada", "message": "hi"},
}


def test_every_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_parse_and_round_trip_through_binarypack(kind: str) -> None:
    wire = {"type": kind, **BASE, **SAMPLES[kind]}
    event = parse_event(wire)
    assert kind == type(event).TYPE
    again = parse_event(binarypack.unpack(binarypack.pack(event.to_wire())))
    assert again == event


def test_step_event_fields() -> None:
    event = parse_event({"type": "do_it", **BASE, **SAMPLES["do_it"]})
    assert isinstance(event, DoIt)
    assert event.action.targetAction is TargetAction.MULTISTEP
    assert (
        event.action.internalActions is not None
        and event.action.internalActions[1].targetValue == "up"
    )
    show = parse_event({"type": "show_me", **BASE, **SAMPLES["show_me"]})
    assert isinstance(show, ShowMe) and show.coordinates == (10.0, 20.5)


def test_lenient_like_real_pathfinder_messages() -> None:
    join = parse_event({"type": "attendee_join", "name": None, "timestamp": 5})
    assert (
        isinstance(join, AttendeeJoin)
        and join.name == "Anonymous"
        and join.mode is AttendeeMode.GUIDED
    )
    end = parse_event({"type": "session_end", "sessionId": "abc123", "timestamp": 1})
    assert isinstance(end, SessionEnd) and end.senderId == ""
    beat = parse_event({"type": "heartbeat", "sentAt": 12.5, "timestamp": 1.0})
    assert isinstance(beat, Heartbeat) and beat.timestamp == 1


def test_full_form_on_output() -> None:
    wire = ShowMe(
        sessionId="s",
        timestamp=1,
        senderId="presenter",
        stepId="x",
        action=parse_event({"type": "show_me", **SAMPLES["show_me"]}).action,
    ).to_wire()  # type: ignore[attr-defined]
    assert list(wire)[:4] == ["type", "sessionId", "timestamp", "senderId"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("text", "must be an object"),
        ({}, "without a string 'type'"),
        ({"type": "rm_rf"}, "unknown session event type"),
        ({"type": "show_me", "stepId": "s"}, r"show_me.action: expected an object"),
        (
            {"type": "show_me", "action": {"targetAction": "eval", "refTarget": "x"}},
            "targetAction: must be one of",
        ),
        (
            {"type": "show_me", "action": {"targetAction": "highlight", "refTarget": "x" * 5000}},
            "longer than 4096",
        ),
        (
            {
                "type": "do_it",
                "action": {"targetAction": "formfill", "refTarget": "#q", "targetValue": 5},
            },
            "expected a string",
        ),
        (
            {
                "type": "do_it",
                "action": {
                    "targetAction": "multistep",
                    "refTarget": "",
                    "internalActions": [{"targetAction": "hover"}] * 65,
                },
            },
            "more than 64",
        ),
        (
            {
                "type": "do_it",
                "action": {"targetAction": "multistep", "refTarget": "", "internalActions": ["x"]},
            },
            r"internalActions\[0\]",
        ),
        ({"type": "mode_change", "mode": "admin"}, "mode: must be one of"),
        ({"type": "heartbeat", "sentAt": "now"}, "expected a number"),
        ({"type": "heartbeat", "sentAt": 1, "timestamp": "x"}, "timestamp: expected an integer"),
        ({"type": "hand_raise", "isRaised": "yes"}, "expected true or false"),
        ({"type": "chat_message", "message": "x" * 2001}, "longer than 2000"),
        ({"type": "presenter_challenge", "nonce": "x" * 129}, "longer than 128"),
        ({"type": "presenter_challenge"}, "nonce: missing"),
        ({"type": "navigation"}, "tutorialUrl: missing"),
    ],
)
def test_bad_events_are_refused_with_a_reason(data: Any, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_message(data)


def test_limits_are_configurable() -> None:
    with pytest.raises(ProtocolError):
        parse_event({"type": "chat_message", "message": "x" * 11}, EventLimits(max_chat=10))


def test_auth_messages() -> None:
    assert parse_message({"type": "presenter_challenge", "nonce": "n"}) == PresenterChallenge("n")
    response = parse_message({"type": "presenter_response", "nonce": "n", "signature": "s"})
    assert response == PresenterResponse("n", "s")
    with pytest.raises(ProtocolError, match="not a session event"):
        parse_event({"type": "presenter_challenge", "nonce": "n"})


def test_guide_url_of_events() -> None:
    from bridge.protocol.events import guide_url

    for kind, expected in (
        ("session_start", "u"),
        ("navigation", "https://grafana.com/docs/x"),
        ("sync_state", "u"),
        ("show_me", ""),
    ):
        assert guide_url(parse_event({"type": kind, **BASE, **SAMPLES[kind]})) == expected


def test_a_step_id_that_is_not_plain_is_quoted_in_the_events_line() -> None:
    from bridge.protocol.events import InteractiveAction, ShowMe, TargetAction

    action = InteractiveAction(TargetAction.HIGHLIGHT, "#x")
    assert str(ShowMe(stepId="step-1.a", action=action)) == "show_me highlight '#x' (step step-1.a)"
    forged = str(ShowMe(stepId="s1) (to 9 attendees)\n+ Eve joined", action=action))
    assert forged == "show_me highlight '#x' (step 's1) (to 9 attendees)\\n+ Eve joined')"


def test_timestamps_and_numbers_are_bounded_at_the_edge() -> None:
    """Red-team finding 8: a BinaryPack double of -1e308 read as a 310-digit timestamp."""
    from bridge.errors import ProtocolError
    from bridge.protocol import binarypack
    from bridge.protocol.events import parse_event

    show = {"type": "show_me", "stepId": "s1", "action": {"targetAction": "highlight"}}
    assert parse_event({**show, "timestamp": 1_714_000_000_123}).timestamp == 1_714_000_000_123
    assert parse_event(show).timestamp == 0  # Pathfinder leaves some out
    for bad in (-1e308, 1e308, -1, 10**13 + 1):
        wire = binarypack.unpack(binarypack.pack({**show, "timestamp": bad}))
        with pytest.raises(ProtocolError, match="timestamp: out of range"):
            parse_event(wire)
    with pytest.raises(ProtocolError, match="seq: out of range"):
        parse_event({**show, "seq": 2**64})
    beat = {"type": "heartbeat", "sentAt": 1_714_000_000_123.5}
    assert parse_event(beat)
    for bad_number in (float("nan"), float("inf"), -5.0):
        with pytest.raises(ProtocolError, match="sentAt"):
            parse_event({**beat, "sentAt": bad_number})
    with pytest.raises(ProtocolError, match=r"coordinates\.x"):
        parse_event({**show, "coordinates": {"x": float("inf"), "y": 1}})
