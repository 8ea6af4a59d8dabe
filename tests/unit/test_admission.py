"""Which OFFERs a peer negotiates: caps in all and per remote id, pacing, and room for a
newcomer during a flood."""

from __future__ import annotations

from bridge.transport.admission import AdmissionLimits, NegotiationAdmission

SMALL = AdmissionLimits(max_pending=4, max_pending_per_peer=2, per_second=100, burst=100)


def test_caps_in_all_and_per_remote_id() -> None:
    admission = NegotiationAdmission(SMALL)
    assert admission.offer("a1", "atk", 0).admitted
    assert admission.offer("a2", "atk", 0).admitted
    refused = admission.offer("a3", "atk", 0)
    assert not refused.admitted and "already has negotiations" in refused.reason
    assert admission.offer("b1", "b", 0).admitted
    assert admission.offer("b2", "b", 0).admitted
    assert admission.pending == 4
    admission.finished("b1", opened=True)
    assert admission.pending == 3


def test_a_failed_remote_id_becomes_suspect_and_gets_one_slow_slot() -> None:
    admission = NegotiationAdmission(SMALL)
    admission.offer("a1", "atk", 0)
    admission.finished("a1", opened=False)
    assert admission.is_suspect("atk")
    assert admission.offer("a2", "atk", 0).admitted
    assert not admission.offer("a3", "atk", 0).admitted  # one slot only
    admission.finished("a2", opened=False)
    granted = sum(admission.offer(f"s{i}", "atk", 0.01 * i).admitted for i in range(100))
    assert granted <= 1 + 4 + 2  # suspect rate: 2/s in bursts of 4, over one second
    admission.offer("ok", "atk-retry", 5)
    admission.finished("ok", opened=True)
    assert not admission.is_suspect("atk-retry")


def test_a_newcomer_takes_the_slot_of_a_suspect_when_all_are_taken() -> None:
    admission = NegotiationAdmission(SMALL)
    for i in range(4):
        admission.offer(f"x{i}", f"atk{i}", 0)
    admission.finished("x0", opened=False)  # atk0 failed: suspect
    admission.offer("x0b", "atk0", 0.1)
    for i in range(1, 4):
        assert admission.offer(f"y{i}", f"atk{i}", 0.2).reason  # fresh ids holding one: no room
    verdict = admission.offer("real", "attendee", 0.3)
    assert verdict.admitted and verdict.evict == "x0b"
    assert not admission.offer("x9", "atk0", 0.4).admitted  # a suspect never evicts


def test_a_newcomer_takes_the_slot_of_an_id_holding_several_then_of_a_stale_one() -> None:
    admission = NegotiationAdmission(SMALL)
    for conn, remote in (("a1", "atk"), ("a2", "atk"), ("b1", "b"), ("c1", "c")):
        admission.offer(conn, remote, 0)
    verdict = admission.offer("d1", "d", 1)
    assert verdict.admitted and verdict.evict == "a1"
    assert admission.is_suspect("atk")  # evicted: it did not finish while others waited
    verdict = admission.offer("e1", "e", 1)
    assert verdict.admitted and verdict.evict == "a2"  # a suspect's slot goes first
    assert not admission.offer("f1", "f", 2).admitted  # everyone holds one, none stale
    verdict = admission.offer("f1", "f", 5.5)
    assert verdict.admitted and verdict.evict == "b1"  # the oldest, over stale_after


def test_admissions_are_paced() -> None:
    admission = NegotiationAdmission(AdmissionLimits(max_pending=1000, per_second=20, burst=40))
    granted = sum(admission.offer(f"c{i}", f"r{i}", i / 80).admitted for i in range(800))
    assert 40 <= granted <= 40 + 20 * 10 + 1  # 80 OFFERs/s for 10 s: at most burst + 20/s


def test_suspects_are_remembered_within_a_bound() -> None:
    admission = NegotiationAdmission(AdmissionLimits(remembered_suspects=10, burst=1000))
    for i in range(100):
        admission.offer(f"c{i}", f"r{i}", 0)
        admission.finished(f"c{i}", opened=False)
    assert len(admission._suspects) == 10 and admission.is_suspect("r99")
