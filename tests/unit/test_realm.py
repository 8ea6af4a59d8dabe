"""The realm's rules, driven with plain calls and a fake clock."""

import json
from typing import Any

import pytest

from bridge.config import LimitsConfig
from bridge.protocol.peerjs import MessageType, ServerMessage
from bridge.signaling.realm import Action, Close, Realm, RealmSettings, Send
from bridge.signaling.reservations import Reservation, token_digest


def make_realm(**limits: int | float) -> Realm:
    return Realm(
        RealmSettings(
            key="pathfinder",
            alive_timeout=60.0,
            expire_timeout=5.0,
            concurrent_limit=3,
            limits=LimitsConfig(**limits),  # type: ignore[arg-type]
        )
    )


def sent(actions: list[Action], conn: int) -> list[dict[str, Any]]:
    return [json.loads(a.text) for a in actions if isinstance(a, Send) and a.conn == conn]


def closed(actions: list[Action]) -> set[int]:
    return {a.conn for a in actions if isinstance(a, Close)}


def join(
    realm: Realm, conn: int, id: str, token: str = "tok", ip: str = "1.1.1.1", now: float = 0.0
) -> list[Action]:
    return realm.connect(conn, id=id, token=token, key="pathfinder", ip=ip, now=now)


def offer(dst: str) -> str:
    return json.dumps(
        {"type": "OFFER", "dst": dst, "payload": {"sdp": {"type": "offer", "sdp": "v=0"}}}
    )


def test_new_peer_gets_open() -> None:
    realm = make_realm()
    assert sent(join(realm, 1, "alice"), 1) == [{"type": "OPEN"}]
    assert realm.peer_ids() == ["alice"]


@pytest.mark.parametrize(
    ("id", "token", "key", "text"),
    [
        (None, "t", "pathfinder", "No id, token, or key supplied to websocket server"),
        ("a", None, "pathfinder", "No id, token, or key supplied to websocket server"),
        ("a", "t", None, "No id, token, or key supplied to websocket server"),
        ("a", "t", "wrong", "Invalid key provided"),
        ("bad id!", "t", "pathfinder", "Invalid id provided"),
        ("a", "t/t", "pathfinder", "Invalid token provided"),
    ],
)
def test_refused_connections_get_error_then_close(
    id: str | None, token: str | None, key: str | None, text: str
) -> None:
    realm = make_realm()
    actions = realm.connect(1, id=id, token=token, key=key, ip="x", now=0)
    assert sent(actions, 1) == [{"type": "ERROR", "payload": {"msg": text}}]
    assert closed(actions) == {1}
    assert realm.peer_count == 0


def test_id_taken_and_reconnect_with_same_token() -> None:
    realm = make_realm()
    join(realm, 1, "alice", token="t1")
    taken = join(realm, 2, "alice", token="other")
    assert sent(taken, 2) == [{"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}]
    assert closed(taken) == {2}
    again = join(realm, 3, "alice", token="t1")
    assert sent(again, 3) == [{"type": "OPEN"}]
    assert closed(again) == {1}  # the old socket is replaced
    assert realm.client_for(3) is not None and realm.client_for(1) is None
    assert realm.disconnect(1, now=0.0) == [] and realm.peer_ids() == [
        "alice"
    ]  # stale close changes nothing


def test_concurrent_and_per_ip_limits() -> None:
    # Per address range: 10.0.0.1 and 10.0.0.2 are one /24.
    realm = make_realm(max_connections_per_ip=2)
    join(realm, 1, "a", ip="10.0.0.1")
    join(realm, 2, "b", ip="10.0.0.2")
    assert sent(join(realm, 3, "c", ip="10.0.0.3"), 3)[0]["payload"] == {
        "msg": "Too many connections from this address"
    }
    join(realm, 4, "d", ip="10.0.1.1")
    assert sent(join(realm, 5, "e", ip="10.0.2.1"), 5)[0]["payload"] == {
        "msg": "Server has reached its concurrent user limit"
    }
    realm.disconnect(1, now=0.0)
    assert sent(join(realm, 6, "c", ip="10.0.0.1"), 6) == [{"type": "OPEN"}]


def test_relay_sets_src() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    join(realm, 2, "bob")
    actions = realm.receive_text(1, offer("bob"), 1.0)
    assert sent(actions, 2) == [
        {
            "type": "OFFER",
            "src": "alice",
            "dst": "bob",
            "payload": {"sdp": {"type": "offer", "sdp": "v=0"}},
        }
    ]
    assert realm.metrics.relayed["OFFER"] == 1


def test_src_cannot_be_forged() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    join(realm, 2, "bob")
    forged = json.dumps({"type": "CANDIDATE", "src": "mallory", "dst": "bob", "payload": {}})
    assert sent(realm.receive_text(1, forged, 0), 2)[0]["src"] == "alice"


def test_queue_for_absent_peer_is_delivered_after_open() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    assert realm.receive_text(1, offer("bob"), 1.0) == []
    assert realm.queued_count == 1
    messages = sent(join(realm, 2, "bob", now=2.0), 2)
    assert [m["type"] for m in messages] == ["OPEN", "OFFER"]
    assert realm.queued_count == 0


def test_leave_and_expire_are_not_queued() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    for kind in ("LEAVE", "EXPIRE"):
        assert realm.receive_text(1, json.dumps({"type": kind, "dst": "bob"}), 0) == []
    assert realm.queued_count == 0


def test_expire_once_per_pair_after_expire_timeout() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    realm.receive_text(1, offer("bob"), 10.0)
    realm.receive_text(1, json.dumps({"type": "CANDIDATE", "dst": "bob", "payload": {}}), 10.5)
    assert realm.tick(14.9) == []
    actions = realm.tick(15.0)
    assert sent(actions, 1) == [{"type": "EXPIRE", "src": "bob", "dst": "alice"}]
    assert realm.queued_count == 0 and realm.metrics.expired == 2


def test_leave_without_dst_removes_sender() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    assert closed(realm.receive_text(1, '{"type":"LEAVE"}', 0)) == {1}
    assert realm.peer_count == 0


def test_alive_timeout_drops_silent_peers_only() -> None:
    realm = make_realm()
    join(realm, 1, "quiet", now=0)
    join(realm, 2, "chatty", now=0)
    realm.receive_text(2, '{"type":"HEARTBEAT"}', 30.0)
    assert closed(realm.tick(60.0)) == {1}
    assert realm.peer_ids() == ["chatty"]
    assert realm.metrics.timed_out == 1


def test_dead_destination_gets_sender_a_leave() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    join(realm, 2, "bob")
    message = ServerMessage(MessageType.OFFER, "alice", "bob", {})
    actions = realm.send_failed(2, message, now=0.0)
    assert closed(actions) == {2}
    assert sent(actions, 1) == [{"type": "LEAVE", "src": "bob", "dst": "alice"}]
    assert realm.peer_ids() == ["alice"]


@pytest.mark.parametrize(
    "text", ["not json", "{}", '{"type":"OPEN"}', '{"type":"OFFER","dst":"bob"}', "null"]
)
def test_bad_frames_get_error_and_relay_nothing(text: str) -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    join(realm, 2, "bob")
    actions = realm.receive_text(1, text, 0)
    assert sent(actions, 2) == []
    assert [m["type"] for m in sent(actions, 1)] == ["ERROR"]
    assert closed(actions) == set()
    assert realm.metrics.rejected["malformed"] == 1


def test_binary_frame_gets_error() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    assert sent(realm.receive_binary(1), 1)[0]["payload"] == {
        "msg": "Binary messages are not supported"
    }


def test_oversized_frame_closes_only_that_client() -> None:
    realm = make_realm(max_frame_bytes=1024)
    join(realm, 1, "alice")
    join(realm, 2, "bob")
    actions = realm.receive_text(1, offer("bob") + " " * 2000, 0)
    assert sent(actions, 1) == [{"type": "ERROR", "payload": {"msg": "Message too large"}}]
    assert closed(actions) == {1}
    assert realm.peer_ids() == ["bob"]


def test_rate_limit_drops_and_errors_once_per_stretch() -> None:
    realm = make_realm(messages_per_second=1, message_burst=2)
    join(realm, 1, "alice", now=0)
    join(realm, 2, "bob", now=0)
    results = [realm.receive_text(1, offer("bob"), 0.0) for _ in range(5)]
    assert [len(sent(r, 2)) for r in results] == [1, 1, 0, 0, 0]
    assert [len(sent(r, 1)) for r in results] == [0, 0, 1, 0, 0]
    assert len(sent(realm.receive_text(1, offer("bob"), 1.0), 2)) == 1
    assert realm.metrics.rejected["rate_limited"] == 3


def test_queue_limits() -> None:
    realm = make_realm(max_queued_per_peer=2)
    join(realm, 1, "alice")
    realm.receive_text(1, offer("bob"), 0)
    realm.receive_text(1, offer("bob"), 0)
    third = realm.receive_text(1, offer("bob"), 0)
    # A shared limit (others may have filled it) answers EXPIRE, which a PeerJS client survives.
    assert sent(third, 1) == [{"type": "EXPIRE", "src": "bob", "dst": "alice"}]
    assert realm.queued_count == 2


# -- issue 9: budgets in bytes, payload shape, slow readers, reservations ----------

SDP = "v=0\r\n" + "a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\r\n" * 8
#: What stock PeerJS 1.5.5 sends (dist/bundler.mjs `_makeOffer`, `_makeAnswer`, `onicecandidate`).
PEERJS_PAYLOADS = [
    (
        "OFFER",
        {
            "sdp": {"type": "offer", "sdp": SDP},
            "type": "data",
            "connectionId": "dc_abc123",
            "label": "dc_abc123",
            "reliable": True,
            "serialization": "binary",
        },
    ),
    (
        "OFFER",
        {
            "sdp": {"type": "offer", "sdp": SDP},
            "type": "media",
            "connectionId": "mc_abc123",
            "metadata": {"name": "Ada", "seat": 3, "tags": ["a", "b"], "extra": {"x": None}},
        },
    ),
    ("ANSWER", {"sdp": {"type": "answer", "sdp": SDP}, "type": "data", "connectionId": "dc_1"}),
    (
        "CANDIDATE",
        {
            "candidate": {
                "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host",
                "sdpMid": None,
                "sdpMLineIndex": 0,
                "usernameFragment": "abcd",
            },
            "type": "data",
            "connectionId": "dc_1",
        },
    ),
]


@pytest.mark.parametrize(("kind", "payload"), PEERJS_PAYLOADS)
def test_peerjs_payloads_are_relayed_unchanged(kind: str, payload: dict[str, Any]) -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    join(realm, 2, "bob")
    frame = json.dumps({"type": kind, "dst": "bob", "payload": payload})
    assert sent(realm.receive_text(1, frame, 0), 2)[0]["payload"] == payload


@pytest.mark.parametrize(
    "payload",
    [
        {"x": [[]] * 200},  # the review's bomb, in small
        {"x": [1] * 200},
        {"a": {"b": {"c": {"d": {"e": 1}}}}},
        {f"k{i}": i for i in range(40)},
        {"k" * 65: 1},
        "a string",
        [1, 2],
    ],
)
def test_payloads_not_shaped_like_peerjs_are_refused(payload: object) -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    join(realm, 2, "bob")
    actions = realm.receive_text(
        1, json.dumps({"type": "OFFER", "dst": "bob", "payload": payload}), 0
    )
    assert sent(actions, 2) == []
    assert [m["type"] for m in sent(actions, 1)] == ["ERROR"]
    assert realm.metrics.rejected["malformed"] == 1


def test_a_large_frame_of_containers_is_refused_before_it_is_parsed() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    bomb = '{"type":"OFFER","dst":"bob","payload":{"x":[' + ",".join(["[]"] * 20_000) + "]}}"
    (error,) = sent(realm.receive_text(1, bomb, 0), 1)
    assert "more than 32 objects or arrays" in error["payload"]["msg"]
    assert realm.queued_count == 0


def test_non_finite_numbers_are_refused() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    actions = realm.receive_text(1, '{"type":"OFFER","dst":"bob","payload":{"x":NaN}}', 0)
    assert [m["type"] for m in sent(actions, 1)] == ["ERROR"] and realm.queued_count == 0


def test_queued_messages_are_kept_as_text_and_delivered_as_sent() -> None:
    realm = make_realm()
    join(realm, 1, "alice")
    payload = PEERJS_PAYLOADS[0][1]
    realm.receive_text(1, json.dumps({"type": "OFFER", "dst": "bob", "payload": payload}), 0)
    assert realm.queued_bytes > len(SDP)
    delivered = sent(join(realm, 2, "bob", now=1.0), 2)
    assert delivered[1] == {"type": "OFFER", "src": "alice", "dst": "bob", "payload": payload}
    assert realm.queued_bytes == 0 and realm.queued_bytes_from("alice") == 0


def big_offer(dst: str, size: int = 50_000) -> str:
    return json.dumps({"type": "OFFER", "dst": dst, "payload": {"sdp": {"sdp": "x" * size}}})


def test_queue_budget_per_sender_in_bytes() -> None:
    realm = make_realm(max_queued_bytes_per_sender=120_000, max_queued_bytes_total=10**9)
    join(realm, 1, "alice")
    join(realm, 2, "carol")
    assert realm.receive_text(1, big_offer("ghost1"), 0) == []
    assert realm.receive_text(1, big_offer("ghost2"), 0) == []
    third = realm.receive_text(1, big_offer("ghost3"), 0)
    assert sent(third, 1)[0]["payload"]["msg"].startswith("Too much waiting for absent peers")
    # Another sender has its own budget.
    assert realm.receive_text(2, big_offer("ghost3"), 0) == []
    assert realm.queued_count == 3
    realm.tick(10.0)
    assert realm.queued_bytes == 0 and realm.queued_count == 0


def test_queue_budget_in_total_answers_expire() -> None:
    realm = make_realm(max_queued_bytes_per_sender=10**6, max_queued_bytes_total=120_000)
    join(realm, 1, "alice")
    join(realm, 2, "carol")
    realm.receive_text(1, big_offer("ghost1"), 0)
    realm.receive_text(1, big_offer("ghost2"), 0)
    refused = realm.receive_text(2, big_offer("ghost3"), 0)
    assert sent(refused, 2) == [{"type": "EXPIRE", "src": "ghost3", "dst": "carol"}]
    assert realm.queued_bytes <= 120_000


def test_a_slow_reader_keeps_its_id_and_the_sender_gets_expire() -> None:
    realm = make_realm()
    join(realm, 1, "presenter")
    join(realm, 2, "attacker")
    relay = sent(realm.receive_text(2, offer("presenter"), 0), 1)[0]
    message = ServerMessage(MessageType.OFFER, relay["src"], relay["dst"], relay["payload"])
    answer = realm.send_refused(1, message)
    assert sent(answer, 2) == [{"type": "EXPIRE", "src": "presenter", "dst": "attacker"}]
    assert closed(answer) == set()
    assert realm.peer_ids() == ["presenter", "attacker"]
    assert sent(join(realm, 3, "presenter", token="attackers"), 3)[0]["type"] == "ID-TAKEN"
    # A refused EXPIRE (the sender itself is not reading) is not answered again.
    assert realm.send_refused(2, ServerMessage(MessageType.EXPIRE, "presenter", "attacker")) == []
    assert realm.metrics.rejected["destination_busy"] == 2


def reserving_realm(grace: float = 30.0, concurrent_limit: int = 3, **limits: int) -> Realm:
    return Realm(
        RealmSettings(
            key="pathfinder",
            alive_timeout=60.0,
            expire_timeout=5.0,
            concurrent_limit=concurrent_limit,
            limits=LimitsConfig(**limits),
            reservation_grace=grace,
        )
    )


def test_an_id_stays_reserved_for_its_token_while_its_owner_is_away() -> None:
    realm = reserving_realm(grace=30.0)
    join(realm, 1, "pres01", token="owner")
    realm.disconnect(1, now=10.0)
    assert realm.peer_count == 0
    for now in (10.0, 25.0, 39.9):
        assert sent(join(realm, 2, "pres01", token="thief", now=now), 2)[0]["type"] == "ID-TAKEN"
    assert sent(join(realm, 3, "pres01", token="owner", now=39.9), 3) == [{"type": "OPEN"}]
    realm.disconnect(3, now=50.0)
    assert sent(join(realm, 4, "pres01", token="thief", now=80.0), 4) == [{"type": "OPEN"}]
    assert realm.metrics.rejected["id_taken"] == 3


def test_a_silent_owner_keeps_its_id_for_alive_timeout_plus_grace() -> None:
    realm = reserving_realm(grace=30.0)
    join(realm, 1, "pres01", token="owner", now=0.0)
    assert closed(realm.tick(60.0)) == {1}
    assert sent(join(realm, 2, "pres01", token="thief", now=89.0), 2)[0]["type"] == "ID-TAKEN"
    realm.tick(90.0)
    assert realm.store.count() == 0
    assert sent(join(realm, 3, "pres01", token="thief", now=90.0), 3) == [{"type": "OPEN"}]


def test_leaving_on_purpose_gives_the_id_up() -> None:
    realm = reserving_realm()
    join(realm, 1, "pres01", token="owner")
    realm.receive_text(1, '{"type":"LEAVE"}', 1.0)
    assert sent(join(realm, 2, "pres01", token="other", now=1.0), 2) == [{"type": "OPEN"}]


def test_reservations_are_capped_per_address_and_in_total() -> None:
    realm = reserving_realm(max_reservations_per_ip=2, max_reservations=3)
    for conn, id in enumerate(("a", "b"), start=1):
        join(realm, conn, id, ip=f"10.0.0.{conn}")
        realm.disconnect(conn, now=5.0)
    refused = sent(join(realm, 3, "c", ip="10.0.0.1", now=5.0), 3)
    assert refused[0]["payload"] == {"msg": "Too many connections from this address"}
    own = join(realm, 4, "a", ip="10.0.0.1", now=5.0)
    assert sent(own, 4) == [{"type": "OPEN"}]  # its own id back
    assert sent(join(realm, 5, "d", ip="10.0.1.1", now=5.0), 5) == [{"type": "OPEN"}]
    full = sent(join(realm, 6, "e", ip="10.0.2.1", now=5.0), 6)
    assert full[0]["payload"] == {"msg": "Server has reached its concurrent user limit"}
    realm.tick(36.0)  # b lapsed
    assert sent(join(realm, 7, "e", ip="10.0.2.1", now=36.0), 7) == [{"type": "OPEN"}]


def test_per_address_limits_count_per_range_so_many_addresses_do_not_multiply_them() -> None:
    # The review's 52 loopback addresses, 400 ids each: all of loopback is one range.
    realm = make_realm(max_connections_per_ip=2)
    join(realm, 1, "a", ip="127.0.0.2")
    join(realm, 2, "b", ip="::1")
    refused = sent(join(realm, 3, "c", ip="127.0.9.1"), 3)
    assert refused[0]["payload"] == {"msg": "Too many connections from this address"}


def test_an_id_held_only_briefly_is_not_kept_after_its_socket_goes() -> None:
    realm = reserving_realm(grace=30.0)
    join(realm, 1, "brief", token="t", now=0.0)
    realm.disconnect(1, now=4.9)  # under reservation_min_connected (5 s)
    assert realm.store.count() == 0
    assert sent(join(realm, 2, "brief", token="other", now=5.0), 2) == [{"type": "OPEN"}]
    realm.receive_text(2, '{"type":"LEAVE"}', 5.0)
    # Held long enough: kept; and once kept, it is kept again however short the next socket.
    join(realm, 3, "owned", token="t", now=0.0)
    realm.disconnect(3, now=5.0)
    assert sent(join(realm, 4, "owned", token="t", now=6.0), 4) == [{"type": "OPEN"}]
    realm.disconnect(4, now=6.5)
    assert sent(join(realm, 5, "owned", token="thief", now=7.0), 5)[0]["type"] == "ID-TAKEN"


def test_new_registrations_are_paced_per_range_and_reconnects_are_not() -> None:
    realm = Realm(
        RealmSettings(
            key="pathfinder",
            alive_timeout=60.0,
            expire_timeout=5.0,
            concurrent_limit=100,
            limits=LimitsConfig(registrations_per_second_per_ip=2.0, registration_burst_per_ip=3),
        )
    )
    for conn in range(1, 4):
        assert sent(join(realm, conn, f"p{conn}", ip="127.0.0.1"), conn) == [{"type": "OPEN"}]
    refused = sent(join(realm, 4, "p4", ip="127.0.0.7"), 4)
    assert refused == [
        {
            "type": "ERROR",
            "payload": {"msg": "Too many new connections from this address, try again shortly"},
        }
    ]
    assert realm.metrics.rejected["registration_rate"] == 1
    assert sent(join(realm, 5, "p1", ip="127.0.0.1"), 5) == [{"type": "OPEN"}]  # a reconnect
    assert sent(join(realm, 6, "q1", ip="10.9.9.9"), 6) == [{"type": "OPEN"}]  # another range
    assert sent(join(realm, 7, "p4", ip="127.0.0.1", now=0.5), 7) == [{"type": "OPEN"}]


def test_owners_coming_back_for_reserved_ids_are_not_paced_and_cost_no_pace() -> None:
    """After a restart or a network blip, a range's owners all come back at once: each
    returns to the id reserved for its token, so none is paced, and none spends the pace
    that newcomers of the range need."""
    realm = reserving_realm(
        grace=60.0,
        concurrent_limit=100,
        registrations_per_second_per_ip=0.001,  # type: ignore[arg-type]
        registration_burst_per_ip=2,
        reservation_min_connected=0,
    )
    realm.store.put(Reservation("early", token_digest(realm.store.salt, "tok"), 60.0, "loopback"))
    # One owner first, while the range's pace is not yet spent: its token is given back.
    assert sent(join(realm, 1, "early", ip="127.0.0.1"), 1) == [{"type": "OPEN"}]
    for n in range(10):
        realm.store.put(
            Reservation(f"own{n}", token_digest(realm.store.salt, "tok"), 60.0, "loopback")
        )
    # Newcomers spend the pace (2)...
    assert sent(join(realm, 2, "new1", ip="127.0.0.1"), 2) == [{"type": "OPEN"}]
    assert sent(join(realm, 3, "new2", ip="127.0.0.1"), 3) == [{"type": "OPEN"}]
    assert sent(join(realm, 4, "new3", ip="127.0.0.1"), 4)[0]["type"] == "ERROR"
    # ...owners coming back do not need it, and a wrong token is still refused as taken.
    for n in range(10):
        assert sent(join(realm, 10 + n, f"own{n}", ip="127.0.0.1"), 10 + n) == [{"type": "OPEN"}]
    realm.disconnect(10, now=1.0)
    assert sent(join(realm, 30, "own0", token="thief", ip="127.0.0.1"), 30)[0]["type"] == "ID-TAKEN"
    assert realm.metrics.rejected["registration_rate"] == 1


def test_away_reservations_are_capped_per_range_and_the_oldest_go_first() -> None:
    realm = reserving_realm(grace=60.0, concurrent_limit=10, max_away_reservations_per_ip=2)
    for conn, id in enumerate(("old", "mid", "new"), start=1):
        join(realm, conn, id, token="t", ip="127.0.0.1", now=float(conn))
        realm.disconnect(conn, now=10.0 + conn)
    # "old" went first: its id is free again; the two newer ones are still kept.
    assert sent(join(realm, 4, "old", token="thief", now=20.0), 4) == [{"type": "OPEN"}]
    for conn, id in ((5, "mid"), (6, "new")):
        assert sent(join(realm, conn, id, token="thief", now=20.0), conn)[0]["type"] == "ID-TAKEN"
    # Another range's away ids are not pushed out by this one's.
    join(realm, 7, "far", token="t", ip="10.1.1.1", now=0.0)
    realm.disconnect(7, now=10.0)
    for conn, id in enumerate(("x", "y", "z"), start=8):
        join(realm, conn, id, token="t", ip="127.0.0.1", now=10.0)
        realm.disconnect(conn, now=20.0)
    assert sent(join(realm, 11, "far", token="thief", now=21.0), 11)[0]["type"] == "ID-TAKEN"


def test_a_server_that_stops_keeps_every_id_however_new() -> None:
    realm = reserving_realm(grace=30.0)
    join(realm, 1, "fresh", token="t", now=0.0)
    realm.shutdown(0.5)
    assert sent(join(realm, 2, "fresh", token="thief", now=1.0), 2)[0]["type"] == "ID-TAKEN"
