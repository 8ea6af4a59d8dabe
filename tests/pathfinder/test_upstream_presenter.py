"""Pathfinder's own presenter (`createSession`, `broadcastToAttendees`, `endSession`) with our
`pathfinder-bridge follow` attendees, alone and beside upstream attendees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import UNIT
from tests.pathfinder.events import EVENTS, GUIDE
from tests.pathfinder.upstream import UpstreamPage, UpstreamPresenter
from tests.servers import CliProcess


def follow_json(server: str, code: str, name: str, mode: str) -> CliProcess:
    return CliProcess(
        "follow", code, "--no-browser", "--json", "--name", name, "--mode", mode, "--server", server
    )


def next_event(attendee: CliProcess) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(attendee.wait_for(lambda line: line.startswith("{")))
    return event


def wait_exit(attendee: CliProcess) -> int:
    return attendee.process.wait(15 * UNIT)


@pytest.fixture
def presenter(upstream: UpstreamPage, signaling_url: str) -> Iterator[UpstreamPresenter]:
    presenter = upstream.present(signaling_url, "Upstream session", GUIDE)
    yield presenter
    presenter.end()


def test_our_attendee_in_an_upstream_session(
    presenter: UpstreamPresenter, signaling_url: str
) -> None:
    with follow_json(signaling_url, presenter.join_code, "Py", "follow") as attendee:
        # Upstream: createSession's join code carries the key; the presenter signs the nonce of
        # presenter_challenge, then answers attendee_join with session_start. We must verify
        # that signature (or refuse the presenter) and only then join.
        start = next_event(attendee)
        assert start["type"] == "session_start"
        assert start["sessionId"] == presenter.session_id
        assert start["config"] == {
            "name": "Upstream session",
            "tutorialUrl": GUIDE,
            "defaultMode": "guided",
        }
        [py] = presenter.wait("s => s.attendees.length === 1 && s.attendees")
        assert (py["name"], py["mode"], py["connectionState"]) == ("Py", "follow", "connected")

        # Upstream: broadcastToAttendees sends each event as given (BinaryPack, chunked over
        # 16,300 bytes). We must pass every type on in order and intact.
        sent = [e for e in EVENTS if e["type"] != "end"]
        for event in sent:
            presenter.broadcast(event)
        for expected in sent:
            got = next_event(attendee)
            assert {key: got[key] for key in expected} == expected
            assert got["sessionId"] == presenter.session_id and got["senderId"] == "presenter"

        # Upstream: endSession sends session_end {sessionId, timestamp} to every attendee, then
        # closes. We must end cleanly: the event, "Session ended: ...", exit status 0.
        presenter.end()
        end = next_event(attendee)
        assert (end["type"], end["sessionId"]) == ("session_end", presenter.session_id)
        assert wait_exit(attendee) == 0
        assert "Session ended: the presenter ended the session" in attendee.stderr


def test_a_mixed_session_with_upstream_and_our_attendees(
    upstream: UpstreamPage, our_server: str
) -> None:
    """Upstream: one presenter, one attendee list, one broadcast to every open connection.
    We must be an attendee like upstream's own: listed, served, measured, ended."""
    presenter = upstream.present(our_server, "Mixed", GUIDE)
    ann = upstream.attend(our_server, presenter.join_code, "Ann", "guided")
    with follow_json(our_server, presenter.join_code, "Py", "guided") as py:
        assert next_event(py)["type"] == "session_start"
        # Upstream: one attendee list for every attendee, whoever wrote it.
        attendees = presenter.wait("s => s.attendees.length === 2 && s.attendees")
        assert sorted((a["name"], a["mode"]) for a in attendees) == [
            ("Ann", "guided"),
            ("Py", "guided"),
        ]
        show_me = EVENTS[0]
        presenter.broadcast(show_me)
        assert next_event(py)["action"] == show_me["action"]
        [got] = ann.wait_events(1, "show_me")
        assert got["action"] == show_me["action"]

        # Upstream: every 5 s the presenter sends heartbeat {sentAt}; an echo with the same
        # sentAt sets the attendee's connectionQuality {latency, quality}. We must echo it
        # exactly as upstream's attendee does, so ours shows a latency beside Ann's.
        qualities = presenter.wait(
            "s => s.attendees.length === 2 && s.attendees.every(a => a.connectionQuality)"
            " && s.attendees.map(a => [a.name, a.connectionQuality])",
            timeout=12 * UNIT,
        )
        for _, quality in qualities:
            assert quality["latency"] >= 0 and quality["quality"] in ("excellent", "good")

        presenter.end()
        assert next_event(py)["type"] == "session_end"
        ann.wait_events(1, "session_end")
        assert wait_exit(py) == 0


def test_our_presenter_with_upstream_and_our_attendees(
    upstream: UpstreamPage, our_server: str
) -> None:
    """The other way round. Upstream: its attendee takes whatever presenter verifies, and its
    onEvent sees the broadcast and session_end. We must serve both kinds of attendee alike."""
    with CliProcess(
        "present", "--no-browser", "--server", our_server, "--name", "Mixed", stdin=True
    ) as ours:
        code = ours.wait_for(lambda line: line.startswith("Join code: ")).split(": ")[1]
        ann = upstream.attend(our_server, code, "Ann", "follow")
        with follow_json(our_server, code, "Py", "guided") as py:
            assert next_event(py)["type"] == "session_start"
            ours.wait_for(lambda line: line == "+ Py joined (guided mode)")
            ours.write(json.dumps(EVENTS[1]))
            assert next_event(py)["action"] == EVENTS[1]["action"]
            [got] = ann.wait_events(1, "do_it")
            assert got["action"] == EVENTS[1]["action"]
            assert ours.stop() == 0
            assert next_event(py)["type"] == "session_end"
            ann.wait_events(1, "session_end")
            assert wait_exit(py) == 0
