"""Property-based fuzzing of everything that reads bytes from the network or a user.

Each target either returns a typed value or raises its ProtocolError-family error with a
reason; nothing else escapes, nothing grows without bound. CORPUS keeps the inputs that once
mattered (found by hand or by hypothesis) so they stay covered on every run.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import LimitsConfig
from bridge.errors import BridgeError, ProtocolError
from bridge.protocol import binarypack
from bridge.protocol.events import SessionEvent, parse_message
from bridge.protocol.joincode import JoinCode
from bridge.protocol.serialization import CLOSE, PARTIAL, ConnectionCodec, Serialization
from bridge.signaling.realm import Close, Realm, RealmSettings, Send

CORPUS: list[str] = [
    "",
    "{",
    "}",
    "null",
    "[]",
    '""',
    "1e999",
    "NaN",
    '{"type": null}',
    '{"type": "OFFER", "dst": ""}',
    '{"type": "OFFER", "dst": "bob", "payload": {"sdp": "' + "x" * 5000 + '"}}',
    '{"type": "CANDIDATE", "dst": "bob", "payload": {}, "src": "mallory"}',
    '{"type": "HEARTBEAT", "payload": ' + "[" * 3000 + "]" * 3000 + "}",
    '{"type": "LEAVE", "dst": "\\u0000"}',
    '{"type": "EXPIRE", "dst": "bob"}',
    '{"__proto__": {"type": "OFFER"}}',
    '{"type": "OFFER", "dst": "bob", "payload": {"sdp": "\\ud800"}}',
    "\x00\x01\x02",
    "\ufeff{}",
]

EVENT_CORPUS: list[Any] = [
    {
        "type": "show_me",
        "action": {"targetAction": "highlight", "refTarget": "x"},
        "timestamp": math.inf,
    },
    {
        "type": "show_me",
        "action": {"targetAction": "highlight", "refTarget": "x"},
        "timestamp": 1e300,
    },
    {"type": "heartbeat", "sentAt": math.nan},
    {"type": "sync_state", "lastEvent": {"type": "sync_state"}},
    {
        "type": "sync_state",
        "lastEvent": {"type": "do_it", "action": {"targetAction": "noop", "refTarget": ""}},
    },
    {
        "type": "do_it",
        "action": {"targetAction": "multistep", "refTarget": "", "internalActions": [None]},
    },
    {"type": "attendee_join", "name": ["x"]},
    {"type": "mode_change"},
    {"type": ""},
    {"type": "toString"},
    {"type": "__proto__"},
    {"type": "show_me", "seq": "1"},
    {"type": "show_me", "seq": True},
]


def make_realm() -> Realm:
    limits = LimitsConfig(
        max_queued_per_peer=5, max_queued_total=20, messages_per_second=1000, message_burst=1000
    )
    realm = Realm(RealmSettings("pathfinder", 60.0, 5.0, 100, limits))
    for conn, name in enumerate(("alice", "bob", "carol"), start=1):
        realm.connect(conn, id=name, token="t", key="pathfinder", ip="1.1.1.1", now=0.0)
    return realm


def check_realm_outputs(realm: Realm, actions: list[Send | Close], sender: int | None) -> None:
    for action in actions:
        assert action.conn in (1, 2, 3)
        if (
            sender
            and isinstance(action, Send)
            and action.conn != sender
            and action.message.src is not None
        ):
            assert (
                action.message.src == {1: "alice", 2: "bob", 3: "carol"}[sender]
            )  # src never forged
    assert realm.queued_count <= 20


valid_frames = st.builds(
    lambda kind, dst, payload: json.dumps({"type": kind, "dst": dst, "payload": payload}),
    st.sampled_from(["OFFER", "ANSWER", "CANDIDATE", "LEAVE", "EXPIRE", "HEARTBEAT", "OPEN", "X"]),
    st.sampled_from(["alice", "bob", "carol", "ghost", "a b", "", None]) | st.text(max_size=10),
    st.none()
    | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)


def mutate(text: str, position: int, junk: str) -> str:
    position = position % (len(text) + 1)
    return text[:position] + junk + text[position + len(junk) :]


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),
            valid_frames
            | st.text(max_size=200)
            | st.builds(mutate, valid_frames, st.integers(0, 200), st.text(max_size=5)),
        ),
        max_size=40,
    )
)
def test_realm_survives_any_frames(frames: list[tuple[int, str]]) -> None:
    realm = make_realm()
    for now, (sender, frame) in enumerate(frames):
        if realm.client_for(sender) is None:
            continue
        actions = realm.receive_text(sender, frame, float(now) / 10)
        check_realm_outputs(realm, actions, sender)
        check_realm_outputs(
            realm, realm.tick(float(now)), None
        )  # EXPIRE comes from the absent peer


def test_realm_corpus() -> None:
    realm = make_realm()
    for frame in CORPUS:
        if realm.client_for(1) is None:
            realm.connect(1, id="alice", token="t", key="pathfinder", ip="1.1.1.1", now=0.0)
        check_realm_outputs(realm, realm.receive_text(1, frame, 0.0), 1)


def test_realm_memory_is_bounded_under_a_flood() -> None:
    realm = make_realm()
    for i in range(20_000):
        realm.receive_text(
            1, json.dumps({"type": "OFFER", "dst": f"ghost{i % 500}", "payload": {}}), 0.0
        )
    assert realm.queued_count <= 20
    realm.tick(10.0)
    assert realm.queued_count == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
event_types = st.sampled_from(
    [
        "show_me",
        "do_it",
        "navigation",
        "sync_state",
        "attendee_join",
        "attendee_leave",
        "mode_change",
        "attendee_status",
        "session_start",
        "session_end",
        "pause",
        "resume",
        "end",
        "heartbeat",
        "hand_raise",
        "chat_message",
        "presenter_challenge",
        "presenter_response",
    ]
)


def check_event(data: Any) -> None:
    try:
        message = parse_message(data)
    except ProtocolError:
        return
    if isinstance(message, SessionEvent):
        assert parse_message(message.to_wire()) == message  # what we accept, we can re-emit


@settings(max_examples=400)
@given(
    st.builds(
        lambda kind, fields: {**fields, "type": kind},
        event_types,
        st.dictionaries(
            st.sampled_from(
                [
                    "sessionId",
                    "timestamp",
                    "senderId",
                    "stepId",
                    "action",
                    "coordinates",
                    "tutorialUrl",
                    "stepNumber",
                    "name",
                    "mode",
                    "status",
                    "config",
                    "reason",
                    "sentAt",
                    "nonce",
                    "signature",
                    "isRaised",
                    "message",
                    "seq",
                    "lastEvent",
                    "lastSeq",
                ]
            ),
            json_values,
            max_size=8,
        ),
    )
    | json_values
)
def test_event_decoder_accepts_or_refuses_with_a_reason(data: Any) -> None:
    check_event(data)


def test_event_corpus() -> None:
    for data in EVENT_CORPUS:
        check_event(data)


@settings(max_examples=300)
@given(st.binary(max_size=300) | st.text(max_size=300), st.sampled_from(list(Serialization)))
def test_data_channel_codec_never_crashes(frame: bytes | str, serialization: Serialization) -> None:
    codec = ConnectionCodec(serialization)
    try:
        value = codec.decode(frame, 0.0)
    except ProtocolError:
        return
    assert (
        value is PARTIAL
        or value is CLOSE
        or value is not None
        or frame in (b"\xc0", b"\xc1", "null")
    )


@given(st.lists(st.binary(max_size=50), max_size=30))
def test_chunk_floods_stay_bounded(garbage: list[bytes]) -> None:
    codec = ConnectionCodec(Serialization.BINARY)
    for i, data in enumerate(garbage):
        chunk = binarypack.pack({"__peerData": i % 7 + 1, "n": 0, "total": 2, "data": data})
        with contextlib.suppress(ProtocolError):
            codec.decode(chunk, float(i))
    assert codec._reassembler.in_flight <= codec._reassembler.max_partial_messages


@given(st.text(max_size=400))
def test_join_codes_parse_or_explain(text: str) -> None:
    try:
        JoinCode.parse(text)
    except BridgeError as exc:
        assert str(exc)
