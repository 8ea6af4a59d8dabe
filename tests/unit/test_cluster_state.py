"""The cluster's sans-I/O parts: what the realm writes, what instances say to each other, what
the Redis scripts answer, and the reconnection pace."""

from __future__ import annotations

import random

import pytest

from bridge.backoff import backoff
from bridge.config import LimitsConfig
from bridge.errors import ProtocolError
from bridge.protocol.peerjs import MessageType
from bridge.signaling.cluster_state import (
    Delivery,
    Moved,
    Release,
    SharedReservations,
    claim_outcome,
    figures,
    parse_envelope,
    route_result,
)
from bridge.signaling.realm import Close, Forward, Realm, RealmSettings, RouteResult, Send
from bridge.signaling.reservations import ClaimOutcome, ClaimResult, QueuedFrame


def clustered_realm(grace: float = 10.0) -> tuple[Realm, SharedReservations]:
    store = SharedReservations("inst~1", bytes(16), grace=grace)
    realm = Realm(
        RealmSettings(
            key="pathfinder",
            alive_timeout=60.0,
            expire_timeout=5.0,
            concurrent_limit=10,
            limits=LimitsConfig(),
            reservation_grace=grace,
            clustered=True,
        ),
        store=store,
    )
    return realm, store


def join(realm: Realm, conn: int, id: str, outcome: ClaimOutcome | None = None) -> list[object]:
    claim = realm.admit(conn, id=id, token="tok", key="pathfinder", ip="1.1.1.1", now=0.0)
    assert not isinstance(claim, list)
    return list(realm.claimed(claim, outcome or ClaimOutcome(ClaimResult.CLAIMED), 0.0))


def test_messages_for_peers_elsewhere_are_forwarded_not_queued() -> None:
    realm, _ = clustered_realm()
    join(realm, 1, "alice")
    actions = realm.receive_text(1, '{"type":"OFFER","dst":"bob","payload":{"a":1}}', 0.0)
    assert actions == [
        Forward(actions[0].message, '{"src":"alice","type":"OFFER","dst":"bob","payload":{"a":1}}')
    ]  # type: ignore[union-attr]
    assert realm.queued_count == 0
    # LEAVE and EXPIRE go too (the store drops them when nobody holds the id).
    leave = realm.receive_text(1, '{"type":"LEAVE","dst":"bob"}', 0.0)
    assert isinstance(leave[0], Forward)


@pytest.mark.parametrize(
    ("result", "answer"),
    [
        (RouteResult.DELIVERED, []),
        (RouteResult.QUEUED, []),
        (RouteResult.SENDER_BUDGET, [{"type": "ERROR"}]),
        (RouteResult.SHARED_BUDGET, [{"type": "EXPIRE", "src": "bob", "dst": "alice"}]),
        (RouteResult.UNAVAILABLE, [{"type": "EXPIRE", "src": "bob", "dst": "alice"}]),
    ],
)
def test_what_the_store_did_is_what_the_sender_hears(
    result: RouteResult, answer: list[dict[str, str]]
) -> None:
    import json

    realm, _ = clustered_realm()
    join(realm, 1, "alice")
    [forward] = realm.receive_text(1, '{"type":"OFFER","dst":"bob","payload":{}}', 0.0)
    assert isinstance(forward, Forward)
    sent = [
        json.loads(a.text) for a in realm.forwarded(forward.message, result) if isinstance(a, Send)
    ]
    assert [{k: m[k] for k in answer[i]} for i, m in enumerate(sent)] == answer


def test_a_delivery_for_a_peer_that_left_bounces_as_expire() -> None:
    realm, _ = clustered_realm()
    join(realm, 1, "bob")
    frame = '{"src":"alice","x":"é\n"}'
    data = b"B\nbob\nOFFER\nalice\n%d\n%s\ncarol\nOFFER\nalice\n2\n{}" % (
        len(frame.encode()),
        frame.encode(),
    )
    delivery, gone = parse_envelope(data, "inst~1")  # type: ignore[misc]
    assert isinstance(delivery, Delivery) and isinstance(gone, Delivery)
    [send] = realm.deliver(delivery.message, delivery.frame)
    assert isinstance(send, Send) and send.conn == 1 and send.text == frame
    [bounce] = realm.deliver(gone.message, gone.frame)
    assert isinstance(bounce, Forward)
    assert (bounce.message.type, bounce.message.src, bounce.message.dst) == (
        MessageType.EXPIRE,
        "carol",
        "alice",
    )


def test_what_the_realm_writes_waits_in_the_outbox_with_its_owner() -> None:
    realm, store = clustered_realm(grace=10.0)
    join(realm, 7, "alice")
    join(realm, 8, "bob")
    assert store.outbox == []  # claims are written by Redis itself
    realm.disconnect(7, now=6.0)  # held long enough to be kept
    realm.receive_text(8, '{"type":"LEAVE"}', 6.0)
    join(realm, 9, "carol")
    realm.disconnect(9, now=1.0)  # registered and closed at once: not kept
    assert store.outbox == [
        Release("alice", "inst~1/7", 10_000, LimitsConfig().max_away_reservations_per_ip),
        Release("bob", "inst~1/8", 0),
        Release("carol", "inst~1/9", 0),
    ]


def test_a_reconnect_elsewhere_closes_the_socket_here_and_writes_nothing() -> None:
    realm, store = clustered_realm()
    join(realm, 3, "alice")
    moved = parse_envelope(b"K\nalice\ninst~1/3", "inst~1")
    assert moved == Moved("alice", 3)
    assert realm.moved("alice", 3, 1.0) == [Close(3, "replaced by a reconnect elsewhere")]
    assert realm.peer_count == 0 and store.outbox == []
    # A kick for another incarnation (a dead run of this instance) is not ours.
    with pytest.raises(ProtocolError):
        parse_envelope(b"K\nalice\ninst~0/3", "inst~1")


@pytest.mark.parametrize(
    "data",
    [b"", b"X\n1", b"B\n", b"B\nbob", b"B\nbob\nNOPE\na\n2\n{}", b"B\nb\nOFFER\na\n9\n{}", b"\xff"],
)
def test_anything_else_on_the_channel_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_envelope(data, "inst~1")


def test_claim_answers_parse_with_what_waited() -> None:
    outcome, previous = claim_outcome(
        [b"claimed", b"1", b"other~2/9", b'OFFER\nalice\n230\n{"x":1}', b"CANDIDATE\nbob\n210\n{}"]
    )
    assert outcome == ClaimOutcome(
        ClaimResult.CLAIMED,
        reserved=True,
        queued=(QueuedFrame("OFFER", "alice", '{"x":1}'), QueuedFrame("CANDIDATE", "bob", "{}")),
    )
    assert previous == "other~2/9"
    assert claim_outcome([b"taken"])[0].result is ClaimResult.TAKEN
    assert claim_outcome([b"ip_full"])[0].result is ClaimResult.IP_FULL
    assert route_result(b"shared_budget") is RouteResult.SHARED_BUDGET
    numbers, missing = figures([3, 2, 5, 1, 230, b"gone"])
    assert (numbers.realm_peers, numbers.instances, numbers.reservations) == (3, 2, 5)
    assert missing == ["gone"]


def test_queued_frames_delivered_on_claim_keep_their_text() -> None:
    realm, _ = clustered_realm()
    actions = join(
        realm,
        1,
        "late",
        ClaimOutcome(ClaimResult.CLAIMED, queued=(QueuedFrame("OFFER", "alice", '{"raw":1}'),)),
    )
    assert [a.text for a in actions if isinstance(a, Send)] == ['{"type":"OPEN"}', '{"raw":1}']


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    delays = backoff(0.1, 2.0, 1.0, rng=random.Random(1))
    values = [next(delays) for _ in range(8)]
    assert 0.05 <= values[0] <= 0.1
    assert all(0.5 <= value <= 1.0 for value in values[5:])
