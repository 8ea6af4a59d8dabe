"""What one browser attendee saw and did, kept for a session report and a recording.

`received()` notes each event as it arrives; `replayed()` is called after the replay's result
went back to the presenter, so the screenshot it takes never delays the presenter's receipt.
Either sink is optional: `follow --record` without `--report` takes no pictures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bridge.protocol.events import MAX_EPOCH_MS, Navigation, SessionEvent, StepEvent
from bridge.report.model import Outcome, ReportBuilder, event_key

if TYPE_CHECKING:
    from bridge.browser.replay import ReplayResult
    from bridge.browser.snapshot import Snapshots
    from bridge.recording.recorder import SessionRecorder


class AttendeeLog:
    def __init__(
        self,
        name: str,
        *,
        builder: ReportBuilder | None = None,
        snapshots: Snapshots | None = None,
        report_folder: Path | None = None,
        recorder: SessionRecorder | None = None,
    ) -> None:
        self.name = name
        self.builder = builder
        self.snapshots = snapshots
        self.report_folder = report_folder
        self.recorder = recorder

    def received(self, event: SessionEvent, at_ms: float) -> None:
        if self.recorder is not None:
            self.recorder.event(event)
        if self.builder is None or not isinstance(event, StepEvent | Navigation):
            return
        key = event_key(event)
        self.builder.event(key, event.timestamp or at_ms, event)
        if isinstance(event, Navigation):
            self.builder.result(self.name, key, Outcome.OK, reason="opened the guide")

    async def replayed(self, event: StepEvent, result: ReplayResult) -> None:
        if self.recorder is not None:
            self.recorder.result(self.name, event.stepId, result.ok, result.detail)
        if self.builder is None:
            return
        shot: str | None = None
        if self.snapshots is not None:
            path = await self.snapshots.take(f"{event.TYPE}-{event.stepId}")
            if path is not None and self.report_folder is not None:
                shot = path.relative_to(self.report_folder).as_posix()
        # The presenter's timestamp: the parser bounds it, and a report never trusts it more.
        stamped = 0 < event.timestamp <= MAX_EPOCH_MS
        latency = result.finished_at_ms - event.timestamp if stamped else None
        self.builder.result(
            self.name,
            event_key(event),
            Outcome.OK if result.ok else Outcome.FAILED,
            reason=result.detail,
            latency_ms=latency,
            screenshot=shot,
        )
