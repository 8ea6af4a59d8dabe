"""What a live session writes into its recording: the presenter's broadcasts and its notices
(joins, leaves, mode changes, replay results), or one attendee's events and results.

`record_of_notice()` is the sans-I/O rule; `SessionRecorder` stamps records with their time
and hands them to a RecordingWriter.
"""

from __future__ import annotations

from bridge.protocol.events import AttendeeMode, AttendeeState, SessionEvent
from bridge.recording.files import RecordingWriter
from bridge.recording.format import (
    EndRecord,
    EventRecord,
    JoinRecord,
    LeaveRecord,
    ModeChangeRecord,
    Record,
    ResultRecord,
)
from bridge.session.presenter import Notice, NoticeKind


def record_of_notice(notice: Notice, t: int) -> Record | None:
    """The record a presenter notice becomes (None for what a recording does not keep:
    raised hands, chat, rejected messages, lost heartbeats)."""
    name = notice.attendee.label
    if notice.kind is NoticeKind.JOINED:
        return JoinRecord(t, name, notice.attendee.mode)
    if notice.kind is NoticeKind.LEFT:
        return LeaveRecord(t, name, notice.detail)
    if notice.kind is NoticeKind.MODE_CHANGED:
        return ModeChangeRecord(t, name, AttendeeMode(notice.detail))
    status = notice.status
    if notice.kind is NoticeKind.STATUS and status is not None and status.currentStep:
        if status.status is AttendeeState.JOINED:
            return ResultRecord(t, name, status.currentStep, True)
        if status.status is AttendeeState.ERROR:
            return ResultRecord(t, name, status.currentStep, False, status.error or "")
    return None


class SessionRecorder:
    def __init__(self, writer: RecordingWriter) -> None:
        self.writer = writer

    def event(self, event: SessionEvent) -> None:
        self.writer.write(EventRecord(self.writer.t, event))

    def notice(self, notice: Notice) -> None:
        record = record_of_notice(notice, self.writer.t)
        if record is not None:
            self.writer.write(record)

    def result(self, attendee: str, step: str, ok: bool, detail: str) -> None:
        self.writer.write(ResultRecord(self.writer.t, attendee, step, ok, detail))

    def mode_change(self, attendee: str, mode: AttendeeMode) -> None:
        self.writer.write(ModeChangeRecord(self.writer.t, attendee, mode))

    def end(self, reason: str) -> None:
        self.writer.write(EndRecord(self.writer.t, reason))
        self.writer.close()
