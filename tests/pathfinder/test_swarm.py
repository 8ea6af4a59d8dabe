"""Pathfinder's own presenter (`createSession`, `broadcastToAttendees`) with a swarm of 50 of
our attendees: how many it holds, and at what delivery latency, as `swarm` measures it."""

from __future__ import annotations

import json

from tests.conftest import UNIT
from tests.pathfinder.events import EVENTS, GUIDE
from tests.pathfinder.upstream import UpstreamPage
from tests.servers import CliProcess

ATTENDEES = 50
#: show_me and do_it events, 0.2 s apart (no step repeats within Pathfinder's 500 ms rule).
BROADCASTS = [
    {**event, "stepId": f"swarm-{round_}-{event['stepId']}"}
    for round_ in range(5)
    for event in EVENTS
    if event["type"] in ("show_me", "do_it")
]


def test_an_upstream_presenter_holds_a_swarm_of_50(upstream: UpstreamPage, our_server: str) -> None:
    presenter = upstream.present(our_server, "Swarmed", GUIDE)
    with CliProcess(
        "swarm", presenter.join_code, "-n", str(ATTENDEES), "--json", "--server", our_server
    ) as swarm:
        # Upstream: every attendee that passes the challenge and sends attendee_join is listed
        # by getAttendees(). We must all get in and stay connected.
        assert swarm.wait_for_stderr(f"Joined: {ATTENDEES}/{ATTENDEES} (0 failed)", 120 * UNIT), (
            swarm.stderr[-2000:]
        )
        presenter.wait(
            f"s => s.manager.getAttendees().filter(a => a.connectionState === 'connected').length === {ATTENDEES}",
            timeout=30 * UNIT,
        )
        # Upstream: broadcastToAttendees sends each event to every open connection, stamped
        # with Date.now(). We must receive every one, and say how long it took.
        for event in BROADCASTS:
            presenter.broadcast(event)
            upstream.page.wait_for_timeout(200)
        expected = f"{len(BROADCASTS)} events, {ATTENDEES * len(BROADCASTS)} deliveries"
        assert swarm.wait_for_stderr(expected, 30 * UNIT), swarm.stderr[-2000:]
        # Upstream: endSession sends session_end to everyone. The swarm ends by itself.
        presenter.end()
        assert swarm.process.wait(60 * UNIT) == 0, swarm.stderr[-2000:]
        summary = json.loads(swarm.wait_for(lambda line: line.startswith("{")))
    assert (summary["joined"], summary["failed"], summary["missed"]) == (ATTENDEES, 0, 0)
    assert summary["deliveries"] == ATTENDEES * len(BROADCASTS)
    assert not summary["clock"]["corrected"]  # one machine: one clock
    # The figures the README quotes come from this line (pytest -s shows it).
    print(
        f"\nupstream presenter, {ATTENDEES} swarm attendees: delivery p50 "
        f"{summary['delivery_ms']['p50']:.1f} ms, p99 {summary['delivery_ms']['p99']:.1f} ms; "
        f"heartbeat p50 {summary['heartbeat_ms']['p50']}; join p50 {summary['join_ms']['p50']:.0f} ms"
    )
