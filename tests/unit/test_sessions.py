"""The presenter and attendee state machines, driven against each other with plain calls."""

from __future__ import annotations

from typing import Any

from bridge.protocol.crypto import PresenterKey, b64url_encode
from bridge.protocol.events import (
    AttendeeMode,
    AttendeeState,
    DoIt,
    InteractiveAction,
    ShowMe,
    TargetAction,
)
from bridge.protocol.joincode import JoinCode
from bridge.protocol.proof import ChannelBinding
from bridge.session import attendee as att
from bridge.session import presenter as pres

NONCE = b64url_encode(bytes(range(16)))
OTHER_NONCE = b64url_encode(bytes(range(16, 32)))


def binding(conn: str = "c1") -> ChannelBinding:
    """One connection as both sides see it (the ids the server set, both DTLS fingerprints)."""
    return ChannelBinding("peer-" + conn, "abc123", "AA:" + conn, "BB:" + conn)


def make_presenter() -> pres.PresenterSession:
    return pres.PresenterSession(
        "abc123", "Demo", "https://grafana.com/docs/x", PresenterKey.generate()
    )


def sent_by_presenter(outputs: list[pres.Output], conn: str = "c1") -> list[dict[str, Any]]:
    return [o.message for o in outputs if isinstance(o, pres.SendTo) and o.conn == conn]


def sent_by_attendee(outputs: list[att.Output]) -> list[dict[str, Any]]:
    return [o.message for o in outputs if isinstance(o, att.Send)]


def handshake(
    presenter: pres.PresenterSession, attendee: att.AttendeeSession, conn: str = "c1"
) -> list[pres.Output]:
    """Run the whole join between the two machines; return the presenter's last outputs."""
    presenter.connection_opened(conn, "peer-" + conn, 0.0, binding(conn))
    pending = sent_by_attendee(attendee.channel_opened(0.0, 1000, binding(conn)))
    notices: list[pres.Output] = []
    while pending:
        replies: list[dict[str, Any]] = []
        for message in pending:
            outputs = presenter.message_received(conn, message, 0.1, 1100)
            notices += [o for o in outputs if isinstance(o, pres.Notice)]
            for answer in sent_by_presenter(outputs, conn):
                replies += sent_by_attendee(attendee.message_received(answer, 0.2, 1200))
        pending = replies
    return notices


def test_join_with_challenge_then_events_in_order() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(
        presenter.join_code, name="Ada", mode=AttendeeMode.FOLLOW, make_nonce=lambda: NONCE
    )
    notices = handshake(presenter, attendee)
    assert attendee.phase is att.AttendeePhase.ACTIVE
    assert attendee.config is not None and attendee.config.name == "Demo"
    assert [n.kind for n in notices if isinstance(n, pres.Notice)] == [pres.NoticeKind.JOINED]
    record = presenter.joined[0]
    assert (record.name, record.mode, record.challenged) == ("Ada", AttendeeMode.FOLLOW, True)

    action = InteractiveAction(TargetAction.BUTTON, "Save")
    outputs = presenter.broadcast(DoIt(stepId="s1", action=action), 5000)
    [wire] = sent_by_presenter(outputs)
    assert (wire["type"], wire["sessionId"], wire["senderId"], wire["timestamp"]) == (
        "do_it",
        "abc123",
        "presenter",
        5000,
    )
    delivered = attendee.message_received(wire, 1.0, 5001)
    assert isinstance(delivered[0], att.Deliver) and isinstance(delivered[0].event, DoIt)


def test_a_presenter_with_another_key_is_refused() -> None:
    real, impostor = make_presenter(), make_presenter()
    attendee = att.AttendeeSession(real.join_code, make_nonce=lambda: NONCE)
    impostor.connection_opened("c1", "peer-c1", 0.0, binding())
    [challenge] = sent_by_attendee(attendee.channel_opened(0.0, 0, binding()))
    [response] = sent_by_presenter(impostor.message_received("c1", challenge, 0.0, 0))
    outputs = attendee.message_received(response, 0.1, 0)
    assert attendee.phase is att.AttendeePhase.FAILED
    assert isinstance(outputs[0], att.Failed) and "failed the identity check" in outputs[0].reason
    assert sent_by_attendee(outputs) == []  # no attendee_join to an impostor


def test_events_before_verification_are_dropped() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code)
    attendee.channel_opened(0.0, 0, binding())
    event = ShowMe(
        stepId="s", action=InteractiveAction(TargetAction.HIGHLIGHT, "#x"), sessionId="abc123"
    ).to_wire()
    outputs = attendee.message_received(event, 0.1, 0)
    assert isinstance(outputs[0], att.Rejected) and not any(
        isinstance(o, att.Deliver) for o in outputs
    )
    assert attendee.dropped_before_verification == 1


def test_challenge_timeout() -> None:
    attendee = att.AttendeeSession(make_presenter().join_code)
    attendee.channel_opened(0.0, 0, binding())
    assert attendee.tick(9.9, 0) == []
    [failed] = attendee.tick(10.0, 0)
    assert isinstance(failed, att.Failed) and attendee.phase is att.AttendeePhase.FAILED


def test_events_for_another_session_and_garbage_are_rejected() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code)
    handshake(presenter, attendee)
    other = ShowMe(
        stepId="s", action=InteractiveAction(TargetAction.HIGHLIGHT, "#x"), sessionId="zzz999"
    ).to_wire()
    assert isinstance(attendee.message_received(other, 1, 1)[0], att.Rejected)
    assert isinstance(attendee.message_received({"type": "show_me"}, 1, 1)[0], att.Rejected)
    assert isinstance(attendee.message_received(b"\x00", 1, 1)[0], att.Rejected)
    assert attendee.phase is att.AttendeePhase.ACTIVE


def test_presenter_answers_one_challenge_per_connection() -> None:
    presenter = make_presenter()
    presenter.connection_opened("c1", "x", 0.0)
    first = presenter.message_received("c1", {"type": "presenter_challenge", "nonce": NONCE}, 0, 0)
    second = presenter.message_received(
        "c1", {"type": "presenter_challenge", "nonce": OTHER_NONCE}, 0, 0
    )
    empty = make_presenter()
    empty.connection_opened("c1", "x", 0.0)
    assert len(sent_by_presenter(first)) == 1 and sent_by_presenter(second) == []
    assert (
        sent_by_presenter(
            empty.message_received("c1", {"type": "presenter_challenge", "nonce": ""}, 0, 0)
        )
        == []
    )


def test_session_start_wait_falls_back_to_the_code() -> None:
    key = PresenterKey.generate()
    attendee = att.AttendeeSession(
        JoinCode("ab12cd", "Code name", "u", key.public_key), make_nonce=lambda: NONCE
    )
    attendee.channel_opened(0.0, 0)
    response = {"type": "presenter_response", "nonce": NONCE, "signature": key.sign(NONCE)}
    [join] = sent_by_attendee(attendee.message_received(response, 0.1, 0))
    assert join["type"] == "attendee_join"
    attendee.tick(5.2, 0)  # no session_start within 5 s: the code's guide
    assert attendee.phase is att.AttendeePhase.ACTIVE
    assert attendee.config is not None and attendee.config.tutorialUrl == "u"


def test_a_code_without_the_presenters_key_is_refused() -> None:
    # Pathfinder 2.3.6+ removed joining unverified: its verifyChallenge fails without a key.
    attendee = att.AttendeeSession(JoinCode("ab12cd", "Legacy", "u"))
    outputs = attendee.channel_opened(0.0, 0)
    assert sent_by_attendee(outputs) == []
    [failed] = outputs
    assert isinstance(failed, att.Failed) and "without the presenter's key" in failed.reason
    assert attendee.phase is att.AttendeePhase.FAILED


def test_heartbeat_echo_and_latency() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code)
    handshake(presenter, attendee)
    [beat] = sent_by_presenter(presenter.tick(100.0, 10_000))
    [echo] = sent_by_attendee(attendee.message_received(beat, 100.0, 10_050))
    assert (echo["type"], echo["senderId"], echo["sentAt"]) == ("heartbeat", "attendee", 10_000)
    presenter.message_received("c1", echo, 100.1, 10_080)
    assert presenter.joined[0].latency_ms == 80 and presenter.joined[0].quality == "excellent"
    assert presenter.tick(101.0, 0) == []  # next heartbeat only after the interval


def test_silent_attendee_is_marked_lost_and_unjoined_connections_are_closed() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code)
    handshake(presenter, attendee)
    presenter.connection_opened("c2", "lurker", 0.0)
    outputs = presenter.tick(30.0, 0)
    assert pres.Disconnect("c2", "did not join in time") in outputs
    assert any(isinstance(o, pres.Notice) and o.kind is pres.NoticeKind.LOST for o in outputs)


def test_attendee_messages_reach_the_presenter_as_notices() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code, name="Ada")
    handshake(presenter, attendee)
    kinds = []
    for outputs in (
        attendee.change_mode(AttendeeMode.FOLLOW, 1),
        attendee.raise_hand(True, 1),
        attendee.report(AttendeeState.ERROR, 1, step="s1", error="not found"),
        attendee.leave(1),
    ):
        for message in sent_by_attendee(outputs):
            kinds += [
                o.kind
                for o in presenter.message_received("c1", message, 1, 1)
                if isinstance(o, pres.Notice)
            ]
    assert kinds == [
        pres.NoticeKind.MODE_CHANGED,
        pres.NoticeKind.HAND_RAISED,
        pres.NoticeKind.STATUS,
        pres.NoticeKind.LEFT,
    ]
    assert presenter.joined == []


def test_late_joiner_gets_current_state() -> None:
    presenter = make_presenter()
    from bridge.protocol.events import Navigation

    presenter.broadcast(Navigation(tutorialUrl="https://grafana.com/docs/y", stepNumber=4), 0)
    attendee = att.AttendeeSession(presenter.join_code)
    presenter.connection_opened("c9", "peer-c9", 0.0, binding("c9"))
    [challenge] = sent_by_attendee(attendee.channel_opened(0, 0, binding("c9")))
    [response] = sent_by_presenter(presenter.message_received("c9", challenge, 0, 0), "c9")
    [join] = sent_by_attendee(attendee.message_received(response, 0, 0))
    messages = sent_by_presenter(presenter.message_received("c9", join, 0, 0), "c9")
    assert [m["type"] for m in messages] == ["session_start", "sync_state"]
    assert messages[1]["stepNumber"] == 4 and messages[1]["tutorialUrl"].endswith("/y")


def test_session_end_ends_the_attendee() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code)
    handshake(presenter, attendee)
    [end] = sent_by_presenter(presenter.end(5, "bye"))
    outputs = attendee.message_received(end, 1, 1)
    assert att.Ended("bye") in outputs and attendee.phase is att.AttendeePhase.ENDED


def test_a_repeat_within_500_ms_is_one_click() -> None:
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code)
    handshake(presenter, attendee)
    action = InteractiveAction(TargetAction.HIGHLIGHT, "#x")
    delivered = []
    for at in (1000, 1200, 1600, 2200):
        [wire] = sent_by_presenter(presenter.broadcast(ShowMe(stepId="s", action=action), at))
        delivered += [
            o for o in attendee.message_received(wire, 1, at) if isinstance(o, att.Deliver)
        ]
    [other] = sent_by_presenter(presenter.broadcast(DoIt(stepId="s", action=action), 2250))
    delivered += [
        o for o in attendee.message_received(other, 1, 2250) if isinstance(o, att.Deliver)
    ]
    assert [d.event.timestamp for d in delivered] == [1000, 1600, 2200, 2250]
    assert attendee.duplicates_dropped == 1
    # Pathfinder compares the absolute difference: an earlier timestamp counts too.
    [early] = sent_by_presenter(presenter.broadcast(DoIt(stepId="s", action=action), 1900))
    assert not [o for o in attendee.message_received(early, 1, 2300) if isinstance(o, att.Deliver)]
    assert attendee.duplicates_dropped == 2


def test_a_nonce_that_is_not_base64url_gets_no_answer_and_spends_the_challenge() -> None:
    # Pathfinder marks the connection challenged, then its atob throws: no answer, no retry.
    presenter = make_presenter()
    presenter.connection_opened("c1", "x", 0.0)
    bad = presenter.message_received("c1", {"type": "presenter_challenge", "nonce": "n!"}, 0, 0)
    good = presenter.message_received("c1", {"type": "presenter_challenge", "nonce": NONCE}, 0, 0)
    assert sent_by_presenter(bad) == [] and sent_by_presenter(good) == []


def challenge(nonce: str = NONCE, proof: str | None = "bound-v1") -> dict[str, Any]:
    message: dict[str, Any] = {"type": "presenter_challenge", "nonce": nonce}
    if proof:
        message["proof"] = proof
    return message


def test_our_code_asks_for_the_bound_proof_and_a_pathfinder_code_for_the_plain_one() -> None:
    presenter = make_presenter()
    assert presenter.join_code.proof == "bound-v1"
    [ours] = sent_by_attendee(
        att.AttendeeSession(presenter.join_code).channel_opened(0, 0, binding())
    )
    assert ours["proof"] == "bound-v1"
    upstream_code = JoinCode("abc123", "Demo", "u", presenter.key.public_key)  # no proof field
    attendee = att.AttendeeSession(upstream_code, make_nonce=lambda: NONCE)
    [plain] = sent_by_attendee(attendee.channel_opened(0, 0, binding()))
    assert plain == {"type": "presenter_challenge", "nonce": NONCE}
    presenter.connection_opened("c1", "peer-c1", 0.0, binding())
    [response] = sent_by_presenter(presenter.message_received("c1", plain, 0, 0))
    assert "proof" not in response  # upstream's answer, unchanged
    attendee.message_received(response, 0.1, 0)
    assert attendee.phase is att.AttendeePhase.JOINING


def test_a_relayed_bound_proof_is_refused() -> None:
    # The attacker holds the presenter's id; the victim's challenge reaches the real
    # presenter over the attacker's own connection, so the proof names that connection.
    presenter = make_presenter()
    victim = att.AttendeeSession(presenter.join_code, make_nonce=lambda: NONCE)
    victim_side = ChannelBinding("victim", "abc123", "AA:victim", "BB:attacker-as-presenter")
    [relayed] = sent_by_attendee(victim.channel_opened(0, 0, victim_side))
    for variant in (relayed, {k: v for k, v in relayed.items() if k != "proof"}):
        fresh = make_presenter()
        fresh.key = presenter.key
        fresh.connection_opened("c1", "attacker", 0.0, binding("attacker"))
        [response] = sent_by_presenter(fresh.message_received("c1", variant, 0, 0))
        target = att.AttendeeSession(presenter.join_code, make_nonce=lambda: NONCE)
        target.channel_opened(0, 0, victim_side)
        outputs = target.message_received(response, 0.1, 0)
        assert target.phase is att.AttendeePhase.FAILED
        assert sent_by_attendee(outputs) == []  # no attendee_join to the relay


def test_a_bound_challenge_without_a_binding_or_with_an_unknown_proof_gets_no_answer() -> None:
    presenter = make_presenter()
    presenter.connection_opened("c1", "x", 0.0)  # nothing names this connection
    assert sent_by_presenter(presenter.message_received("c1", challenge(), 0, 0)) == []
    presenter.connection_opened("c2", "y", 0.0, binding("c2"))
    outputs = presenter.message_received("c2", challenge(proof="bound-v9"), 0, 0)
    assert sent_by_presenter(outputs, "c2") == []


def test_an_attendee_with_a_bound_code_but_no_binding_fails_closed() -> None:
    attendee = att.AttendeeSession(make_presenter().join_code)
    [failed] = attendee.channel_opened(0, 0, None)
    assert isinstance(failed, att.Failed) and attendee.phase is att.AttendeePhase.FAILED


def test_challenges_are_answered_only_in_the_handshake() -> None:
    presenter = make_presenter()
    presenter.connection_opened("late", "peer-late", 0.0, binding("late"))
    assert sent_by_presenter(presenter.message_received("late", challenge(), 10.5, 0), "late") == []
    attendee = att.AttendeeSession(presenter.join_code)
    handshake(presenter, attendee, "c1")
    record = presenter.joined[0]
    record.challenged = False  # even if it had not challenged: joined is too late
    assert sent_by_presenter(presenter.message_received("c1", challenge(), 1, 0)) == []
    assert presenter.challenges_refused == 2


def test_challenges_are_capped_per_remote_peer_and_per_minute() -> None:
    presenter = make_presenter()
    limits = presenter.challenge_limits
    answered = 0
    for i in range(10):  # one remote id, ten connections in a minute
        conn = f"a{i}"
        presenter.connection_opened(conn, "peer-a", i, ChannelBinding("peer-a", "abc123", "A", "B"))
        answered += len(
            sent_by_presenter(presenter.message_received(conn, challenge(), i, 0), conn)
        )
    assert answered == limits.per_peer_per_minute
    # A minute later that peer is answered again.
    presenter.connection_opened(
        "a-late", "peer-a", 70, ChannelBinding("peer-a", "abc123", "A", "B")
    )
    assert sent_by_presenter(presenter.message_received("a-late", challenge(), 70, 0), "a-late")
    # Many remote ids: at most per_minute plain (Pathfinder) proofs in all, which can be
    # hoarded and relayed; bound proofs name their connection, so a big room of ours joins.
    for proof, expected in ((None, limits.per_minute), ("bound-v1", 200)):
        answered = 0
        for i in range(200):
            conn, peer = f"m{i}-{proof}", f"peer-m{i}-{proof}"
            presenter.connection_opened(conn, peer, 80, ChannelBinding(peer, "abc123", "A", "B"))
            outputs = presenter.message_received(conn, challenge(proof=proof), 80, 0)
            answered += len(sent_by_presenter(outputs, conn))
        assert answered == expected


def test_a_repeated_attendee_join_is_ignored() -> None:
    # Pathfinder accepts attendee_join only from a connection still pending its handshake.
    presenter = make_presenter()
    attendee = att.AttendeeSession(presenter.join_code, name="Ada")
    handshake(presenter, attendee)
    again = {"type": "attendee_join", "name": "Mallory", "mode": "follow", "timestamp": 2}
    assert presenter.message_received("c1", again, 1, 2) == []
    [ada] = presenter.joined
    assert (ada.name, ada.mode) == ("Ada", AttendeeMode.GUIDED)


JOIN = {"type": "attendee_join", "name": "M", "mode": "guided"}


def test_one_joined_connection_per_peer_id_a_new_join_replaces_the_old() -> None:
    presenter = make_presenter()
    for conn in ("c1", "c2"):
        presenter.connection_opened(conn, "mallory", 0.0)
    presenter.message_received("c1", JOIN, 0.1, 1100)
    outputs = presenter.message_received("c2", JOIN, 0.2, 1200)
    assert pres.Disconnect("c1", "replaced by a new connection") in outputs
    assert [a.conn for a in presenter.joined] == ["c2"]
    assert [o.kind for o in outputs if isinstance(o, pres.Notice)] == [
        pres.NoticeKind.LEFT,
        pres.NoticeKind.JOINED,
    ]


def test_room_goes_to_extra_then_stale_unjoined_then_silent_connections_never_live_ones() -> None:
    presenter = make_presenter()
    presenter.connection_opened("live", "ada", 0.0)
    presenter.message_received("live", JOIN, 0.1, 1100)
    presenter.connection_opened("fresh", "bob", 1.0)  # in its handshake
    assert presenter.room_for("newcomer", 2.0) is None
    presenter.connection_opened("extra", "ada", 1.5)  # a second place of a joined peer
    assert presenter.room_for("newcomer", 2.0) == "extra"
    presenter.connection_closed("extra")
    assert presenter.room_for("newcomer", 11.0) == "fresh"  # past the handshake window
    presenter.connection_closed("fresh")
    presenter.tick(30.0, 30_000)  # "live" fell silent: no heartbeat echo for 15 s
    assert presenter.room_for("newcomer", 30.0) == "live"


def test_a_reconnecting_peer_takes_the_place_of_its_own_connection() -> None:
    # A full presenter: two live attendees. Ada's network blips; her old connection still
    # counts as live (no 15 s silence yet) when her new OFFER comes: its place is offered.
    presenter = make_presenter()
    for conn, peer in (("ada-old", "ada"), ("bob", "bob")):
        presenter.connection_opened(conn, peer, 0.0)
        presenter.message_received(conn, JOIN, 0.1, 1100)
    assert presenter.room_for("newcomer", 5.0) is None
    assert presenter.room_for("ada", 5.0) == "ada-old"
    # Her unjoined connections go before her joined one, the oldest first.
    presenter.connection_opened("ada-new", "ada", 5.0)
    presenter.connection_opened("ada-newer", "ada", 6.0)
    assert presenter.room_for("ada", 6.5) == "ada-new"


def test_kick_sends_away_every_connection_of_a_name_or_peer_id() -> None:
    presenter = make_presenter()
    for conn, peer in (("c1", "mallory"), ("c2", "mallory"), ("c3", "ada")):
        presenter.connection_opened(conn, peer, 0.0)
    presenter.message_received("c1", {**JOIN, "name": "Mal"}, 0.1, 1100)
    presenter.message_received("c3", {**JOIN, "name": "Ada"}, 0.1, 1100)
    kick = presenter.kick("Mal")
    assert kick.sent_away == {"mallory"} and not kick.ambiguous
    assert sorted(o.conn for o in kick.outputs if isinstance(o, pres.Disconnect)) == ["c1", "c2"]
    assert [a.name for a in presenter.joined] == ["Ada"]
    assert presenter.kick("nobody") == pres.Kick()


def test_kick_by_a_shared_name_sends_nobody_away_and_names_the_peer_ids() -> None:
    # An impostor joins as "Ada": the presenter's `kick Ada` must not send the real Ada
    # away with it. Another takes the real Ada's peer id as its name: a peer id comes first.
    presenter = make_presenter()
    for conn, peer, name in (("c1", "ada-id", "Ada"), ("c2", "imp", "Ada"), ("c3", "x", "ada-id")):
        presenter.connection_opened(conn, peer, 0.0)
        presenter.message_received(conn, {**JOIN, "name": name}, 0.1, 1100)
    kick = presenter.kick("Ada")
    assert kick.outputs == () and kick.sent_away == frozenset()
    assert {a.peer_id for a in kick.ambiguous} == {"ada-id", "imp"}
    assert len(presenter.joined) == 3
    kick = presenter.kick("imp")
    assert kick.sent_away == {"imp"} and kick.ambiguous == () and kick.shadowed == ()
    assert sorted(a.peer_id for a in presenter.joined) == ["ada-id", "x"]
    kick = presenter.kick("ada-id")
    assert kick.sent_away == {"ada-id"} and [a.peer_id for a in kick.shadowed] == ["x"]
    assert [a.peer_id for a in presenter.joined] == ["x"]


def test_two_peers_named_after_each_other_stay_kickable() -> None:
    # A review's pair: A joins as "B" and B as "A", so that every kick would be ambiguous.
    presenter = make_presenter()
    for conn, peer, name in (("c1", "A", "B"), ("c2", "B", "A")):
        presenter.connection_opened(conn, peer, 0.0)
        presenter.message_received(conn, {**JOIN, "name": name}, 0.1, 1100)
    assert presenter.kick("A").sent_away == {"A"}
    assert presenter.kick("B").sent_away == {"B"}
    assert presenter.joined == []
