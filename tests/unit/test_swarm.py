"""The swarm's sans-I/O core: worker reports, the clock estimate, the tally, the split."""

from __future__ import annotations

import pytest

from bridge.errors import ProtocolError
from bridge.swarm.clock import ClockBounds, estimate
from bridge.swarm.reports import (
    Connected,
    Ended,
    HeartbeatHeard,
    Joined,
    JoinFailed,
    Received,
    Reconnecting,
    Replayed,
    Usage,
    parse_report,
    to_line,
)
from bridge.swarm.runner import split_attendees
from bridge.swarm.tally import SwarmState, SwarmTally

T0 = 1_700_000_000_000.0


@pytest.mark.parametrize(
    "report",
    [
        Joined(3, 120.5),
        JoinFailed(1, "no session 'zzzzzz' on the signaling server"),
        Reconnecting(0, T0),
        Connected(2, T0, T0 + 1, T0 + 2),
        Received(2, "seq:5", "show_me", "s1", "show_me highlight '#a' (step s1)", T0, T0 + 3),
        HeartbeatHeard(4, T0, T0 + 1),
        Replayed(0, "seq:5", False, "element not found", T0 + 50, "swarm-1-001-show_me-s1.jpg"),
        Ended(1, "the presenter ended the session", T0),
        Usage(0, "tick", 1.25, T0),
    ],
)
def test_reports_round_trip(report: object) -> None:
    assert parse_report(to_line(report)) == report  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("nope", "not JSON"),
        ("[]", "not an object"),
        ('{"kind":"launch"}', "unknown kind"),
        ('{"kind":"joined","index":1}', "without join_ms"),
        ('{"kind":"joined","index":true,"join_ms":1}', "joined.index: not a int"),
        ('{"kind":"joined","index":1,"join_ms":"fast"}', "joined.join_ms: not a float"),
        (
            '{"kind":"replayed","index":1,"key":"k","ok":1,"detail":"","finished":1}',
            "ok: not a bool",
        ),
    ],
)
def test_odd_worker_lines_are_refused(line: str, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        parse_report(line)


def test_one_clock_agrees_within_the_round_trip() -> None:
    bounds = ClockBounds()
    # Join sent at 0, the presenter stamps 2 ms later, the answer arrives at 4 ms.
    bounds.round_trip(T0, T0 + 2, T0 + 4)
    bounds.one_way(T0 + 100, T0 + 101)
    clock = estimate(bounds)
    assert not clock.corrected and clock.offset_ms == 0.0
    assert clock.uncertainty_ms == 3.0
    assert "agree" in clock.describe()


def test_a_presenter_clock_behind_ours_is_estimated_and_corrected() -> None:
    bounds = ClockBounds()
    skew = 5000.0  # the presenter's clock is 5 s behind ours
    bounds.round_trip(T0, T0 + 2 - skew, T0 + 4)
    bounds.one_way(T0 + 50 - skew, T0 + 51)
    clock = estimate(bounds)
    assert clock.corrected
    assert abs(clock.offset_ms - skew) <= clock.uncertainty_ms <= 3.0
    assert "ms behind this machine" in clock.describe()


def test_without_a_round_trip_nothing_is_claimed() -> None:
    clock = estimate(ClockBounds())
    assert not clock.corrected and clock.uncertainty_ms == float("inf")


def swarm_of_three() -> SwarmTally:
    tally = SwarmTally(["b-1", "p-2", "p-3"], browsers=1)
    for index in range(3):
        tally.apply(Joined(index, 100.0 + index))
        tally.apply(Connected(index, T0, T0 + 1, T0 + 2))
    return tally


def test_deliveries_and_missed_events() -> None:
    tally = swarm_of_three()
    for index in range(3):
        tally.apply(Received(index, "seq:1", "show_me", "s1", "show_me s1", T0 + 1000, T0 + 1003))
    # p-3 loses the presenter after the first event and comes back for the third.
    tally.apply(Reconnecting(2, T0 + 1500))
    for index in range(2):
        tally.apply(Received(index, "seq:2", "do_it", "s2", "do_it s2", T0 + 2000, T0 + 2010))
    tally.apply(Connected(2, T0 + 2500, T0 + 2501, T0 + 2502))
    for index in (0, 2):  # p-2 misses the third while connected
        tally.apply(Received(index, "seq:3", "show_me", "s3", "show_me s3", T0 + 3000, T0 + 3002))
    tally.apply(Replayed(0, "seq:1", True, "highlight #a", T0 + 1040, "b.jpg"))
    tally.apply(Replayed(0, "seq:2", False, "refused: off-origin", T0 + 2040))
    status = tally.status()
    assert (status.joined, status.failed, status.reconnecting) == (3, 0, 0)
    assert (status.events, status.deliveries) == (3, 7)
    assert status.delivery.p50 == 3.0 and status.delivery.max == 10.0
    assert (status.replays_ok, status.replays_failed) == (1, 1)
    summary = tally.summary(finished_local=T0 + 60_000)
    assert [(m.attendee, m.key) for m in summary.missed] == [("p-2", "seq:3")]
    assert summary.reconnects == 1 and not summary.ok


def test_events_still_in_flight_at_the_end_are_not_missed() -> None:
    tally = swarm_of_three()
    tally.apply(Received(0, "seq:9", "show_me", "s9", "show_me s9", T0 + 5000, T0 + 5002))
    summary = tally.summary(finished_local=T0 + 5500)
    assert summary.missed == () and summary.ok


def test_a_failed_join_fails_the_swarm_and_session_control_is_not_counted() -> None:
    tally = SwarmTally(["a", "b"], browsers=0)
    tally.apply(Joined(0, 50.0))
    tally.apply(JoinFailed(1, "the presenter did not start the session"))
    tally.apply(Received(0, "x", "session_end", "", "session_end", T0, T0 + 1))
    tally.apply(Ended(0, "the presenter ended the session", T0 + 2))
    tally.apply(Received(7, "x", "show_me", "", "", T0, T0))  # no such attendee: ignored
    summary = tally.summary(T0 + 10_000)
    assert summary.status.events == 0
    assert summary.failures == (("b", "the presenter did not start the session"),)
    assert tally.attendees[0].state is SwarmState.ENDED
    assert not summary.ok and summary.to_json()["failed"] == 1


def test_cores_after_join_from_worker_usage() -> None:
    tally = SwarmTally(["a"], browsers=0)
    tally.apply(Usage(0, "joined", 2.0, T0))
    tally.apply(Usage(0, "tick", 2.5, T0 + 10_000))
    tally.apply(Usage(1, "joined", 1.0, T0))
    tally.apply(Usage(1, "final", 1.5, T0 + 10_000))
    assert tally.cores_after_join == pytest.approx(0.1)
    assert tally.cpu_seconds == 4.0


def test_split_keeps_browsers_together_and_spreads_the_rest() -> None:
    assert split_attendees(20, 2, 2) == [[0, 1], list(range(2, 20, 2)), list(range(3, 20, 2))]
    assert split_attendees(3, 0, 8) == [[0], [1], [2]]
    assert split_attendees(2, 2, 4) == [[0, 1]]
