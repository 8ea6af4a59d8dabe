"""What a recorded session plays, and when, sans-I/O.

`playback_plan()` turns a Recording into the events a presenter broadcasts again: show_me,
do_it, navigation, pause, resume and chat, each with its delay counted from the first recorded
event and divided by the speed. Session control that a live presenter sends by itself
(session_start, sync_state, session_end, end) is left out; an event only attendees send
cannot be played and refuses the recording, with its line, before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.protocol.events import (
    ChatMessage,
    DoIt,
    End,
    Navigation,
    Pause,
    Resume,
    SessionEnd,
    SessionEvent,
    SessionStart,
    ShowMe,
    SyncState,
)
from bridge.recording.format import EventRecord, Recording, RecordingError

PLAYED = (ShowMe, DoIt, Navigation, Pause, Resume, ChatMessage)
#: Sent by a live presenter on its own: not played from the recording.
LEFT_OUT = (SessionStart, SyncState, SessionEnd, End)


@dataclass(frozen=True)
class PlannedEvent:
    #: Seconds after playing starts (the first recorded event plays at 0).
    delay: float
    event: SessionEvent
    line: int

    @property
    def label(self) -> str:
        return str(self.event)


def playback_plan(recording: Recording, speed: float = 1.0) -> list[PlannedEvent]:
    if not speed > 0:
        raise RecordingError(f"speed must be more than 0, got {speed}")
    planned: list[PlannedEvent] = []
    first: int | None = None
    for record, line in zip(recording.records, recording.lines, strict=True):
        if not isinstance(record, EventRecord):
            continue
        event = record.event
        if isinstance(event, LEFT_OUT):
            continue
        if not isinstance(event, PLAYED):
            raise RecordingError(f"line {line}: {event.TYPE} is not an event a presenter sends")
        if first is None:
            first = record.t
        planned.append(PlannedEvent((record.t - first) / 1000 / speed, event, line))
    return planned
