"""The recording format: round trips, and every bad recording refused with its line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.protocol.events import (
    AttendeeMode,
    AttendeeState,
    AttendeeStatus,
    DoIt,
    InteractiveAction,
    Navigation,
    SessionConfig,
    SessionEnd,
    SessionStart,
    ShowMe,
    TargetAction,
)
from bridge.recording.format import (
    EndRecord,
    EventRecord,
    Header,
    JoinRecord,
    LeaveRecord,
    ModeChangeRecord,
    RecordingError,
    ResultRecord,
    Role,
    parse_recording,
    serialize,
)
from bridge.recording.playback import playback_plan
from bridge.recording.recorder import record_of_notice
from bridge.session.presenter import Attendee, Notice, NoticeKind

HEADER = Header(
    role=Role.PRESENTER,
    tool="pathfinder-bridge 0.1.0",
    started_ms=1_700_000_000_000,
    session_id="abc123",
    session_name="Workshop",
    guide="https://grafana.com/docs/learning-journeys/x/",
    grafana_url="http://127.0.0.1:3000",
    grafana_version="12.0.0",
)
SHOW = ShowMe(
    stepId="s1",
    action=InteractiveAction(TargetAction.HIGHLIGHT, "#panel", targetComment="look"),
    sessionId="abc123",
    timestamp=1_700_000_000_500,
    senderId="presenter",
)
DO = DoIt(stepId="s2", action=InteractiveAction(TargetAction.BUTTON, "Save"))
RECORDS = [
    JoinRecord(100, "Ada", AttendeeMode.FOLLOW),
    EventRecord(500, SHOW),
    ResultRecord(520, "Ada", "s1", True),
    ModeChangeRecord(900, "Ada", AttendeeMode.GUIDED),
    EventRecord(1500, DO),
    ResultRecord(1530, "Ada", "s2", False, "element not found within 2 s: Save"),
    LeaveRecord(2000, "Ada", "left"),
    EndRecord(2100, "The presenter ended the session"),
]


def text_of(*items: object) -> list[str]:
    return [serialize(item) + "\n" for item in items]  # type: ignore[arg-type]


def test_round_trip() -> None:
    recording = parse_recording(text_of(HEADER, *RECORDS))
    assert recording.header == HEADER
    assert list(recording.records) == RECORDS
    assert recording.lines == tuple(range(2, 2 + len(RECORDS)))
    assert [r.step for r in recording.results] == ["s1", "s2"]


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.text(max_size=30),
            st.sampled_from(list(AttendeeMode)),
            st.booleans(),
        ),
        max_size=20,
    )
)
def test_round_trip_of_any_names_and_details(
    rows: list[tuple[int, str, AttendeeMode, bool]],
) -> None:
    records: list[object] = []
    t = 0
    for delta, name, mode, ok in rows:
        t += delta
        records += [JoinRecord(t, name, mode), ResultRecord(t, name, name, ok, name)]
    recording = parse_recording(text_of(HEADER, *records))
    assert list(recording.records) == records


def test_a_recording_without_the_final_newline_is_still_read() -> None:
    lines = text_of(HEADER, *RECORDS)
    lines[-1] = lines[-1].rstrip("\n")
    assert parse_recording(lines).records[-1] == RECORDS[-1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda lines: ["{}\n", *lines[1:]], "line 1: not a pathfinder-bridge recording"),
        (
            lambda lines: [lines[0].replace('"version":1', '"version":2'), *lines[1:]],
            "line 1: recording format version 2 is not supported (this pathfinder-bridge reads version 1)",
        ),
        (
            lambda lines: [*lines[:4], lines[4][:40]],
            "line 5: truncated (the recording ends in the middle of a line)",
        ),
        (lambda lines: [*lines[:2], "{oops\n", *lines[2:]], "line 3: not JSON"),
        (lambda lines: [*lines[:2], "[1]\n", *lines[2:]], "line 3: a record must be a JSON object"),
        (
            lambda lines: [*lines[:2], lines[2].replace('"show_me"', '"rm_rf"')],
            "line 3: unknown session event type 'rm_rf'",
        ),
        (
            lambda lines: [*lines[:2], lines[2].replace('"highlight"', '"eval"')],
            "line 3: show_me.action.targetAction: must be one of",
        ),
        (
            lambda lines: [*lines[:1], lines[1].replace('"join"', '"teleport"')],
            "line 2: unknown record kind 'teleport'",
        ),
        (
            lambda lines: [*lines[:1], lines[1].replace('"t":100', '"t":-1')],
            "line 2: 't' must be a number of milliseconds, 0 or more",
        ),
        (
            lambda lines: [*lines[:3], lines[1].replace('"t":100', '"t":50')],
            "line 4: time goes backwards (50 ms after 500 ms)",
        ),
        (
            lambda lines: [*lines[:1], lines[1].replace('"follow"', '"watch"')],
            "line 2: 'mode' must be guided or follow",
        ),
        (lambda lines: [], "line 1: the recording is empty"),
    ],
)
def test_bad_recordings_are_refused_with_the_line(change: object, message: str) -> None:
    lines = text_of(HEADER, *RECORDS)
    with pytest.raises(RecordingError) as error:
        parse_recording(change(lines))  # type: ignore[operator]
    assert str(error.value).startswith(message)


def test_playback_counts_time_from_the_first_event_and_leaves_out_session_control() -> None:
    start = SessionStart(config=SessionConfig("W", ""))
    guide = Navigation(tutorialUrl="https://grafana.com/docs/x/")
    recording = parse_recording(
        text_of(
            HEADER,
            EventRecord(200, start),
            EventRecord(1200, guide),
            EventRecord(2200, SHOW),
            EventRecord(5200, DO),
            EventRecord(6000, SessionEnd()),
        )
    )
    plan = playback_plan(recording)
    assert [(p.delay, p.event.TYPE, p.line) for p in plan] == [
        (0.0, "navigation", 3),
        (1.0, "show_me", 4),
        (4.0, "do_it", 5),
    ]
    assert [p.delay for p in playback_plan(recording, 4)] == [0.0, 0.25, 1.0]
    with pytest.raises(RecordingError, match="speed must be more than 0"):
        playback_plan(recording, 0)


def test_playback_refuses_what_only_attendees_send() -> None:
    status = AttendeeStatus(status=AttendeeState.JOINED)
    recording = parse_recording(text_of(HEADER, EventRecord(0, SHOW), EventRecord(10, status)))
    with pytest.raises(
        RecordingError, match="line 3: attendee_status is not an event a presenter sends"
    ):
        playback_plan(recording)


def test_notices_become_records() -> None:
    ada = Attendee("c1", "peer", 0.0, name="Ada", mode=AttendeeMode.FOLLOW)
    ok = AttendeeStatus(status=AttendeeState.JOINED, currentStep="s1")
    failed = AttendeeStatus(status=AttendeeState.ERROR, currentStep="s2", error="not found")
    assert record_of_notice(Notice(NoticeKind.JOINED, ada, "follow"), 5) == JoinRecord(
        5, "Ada", AttendeeMode.FOLLOW
    )
    assert record_of_notice(Notice(NoticeKind.STATUS, ada, "ok", ok), 6) == ResultRecord(
        6, "Ada", "s1", True
    )
    assert record_of_notice(Notice(NoticeKind.STATUS, ada, "x", failed), 7) == ResultRecord(
        7, "Ada", "s2", False, "not found"
    )
    assert record_of_notice(Notice(NoticeKind.MODE_CHANGED, ada, "guided"), 8) == ModeChangeRecord(
        8, "Ada", AttendeeMode.GUIDED
    )
    assert record_of_notice(Notice(NoticeKind.LEFT, ada, "left"), 9) == LeaveRecord(
        9, "Ada", "left"
    )
    assert record_of_notice(Notice(NoticeKind.CHAT, ada, "hi"), 10) is None


def test_header_is_one_json_object_with_the_documented_fields() -> None:
    header = json.loads(serialize(HEADER))
    assert header == {
        "format": "pathfinder-bridge-recording",
        "version": 1,
        "tool": "pathfinder-bridge 0.1.0",
        "role": "presenter",
        "started": 1_700_000_000_000,
        "session": {"id": "abc123", "name": "Workshop"},
        "guide": "https://grafana.com/docs/learning-journeys/x/",
        "grafana": {"url": "http://127.0.0.1:3000", "version": "12.0.0"},
        "attendee": "",
    }
