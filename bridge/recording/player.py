"""RecordingPlayer: a presenter that plays a recording to live attendees.

It waits until `wait_for` attendees have joined, then broadcasts each planned event at its
time (or, stepping, when `next_step` says so), and after the last one gives attendees
`result_grace` seconds to report how their replay went before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bridge.protocol.events import StepEvent
from bridge.recording.playback import PlannedEvent
from bridge.session.live import LivePresenter
from bridge.session.presenter import Notice, NoticeKind

logger = logging.getLogger("bridge.recording")


class RecordingPlayer:
    def __init__(
        self,
        presenter: LivePresenter,
        plan: list[PlannedEvent],
        *,
        wait_for: int = 1,
        next_step: Callable[[int, PlannedEvent], Awaitable[bool]] | None = None,
        on_played: Callable[[int, PlannedEvent, int], None] | None = None,
        result_grace: float = 10.0,
    ) -> None:
        self.presenter = presenter
        self.plan = plan
        self.wait_for = wait_for
        self._next_step = next_step
        self._on_played = on_played or (lambda index, planned, sent: None)
        self.result_grace = result_grace
        self.played = 0
        self._reported: dict[str, str] = {}  # attendee connection -> last step reported
        self._noticed = asyncio.Event()

    def notice(self, notice: Notice) -> None:
        """The presenter's notices: who joined, and the results of the last event."""
        status = notice.status
        if notice.kind is NoticeKind.STATUS and status is not None and status.currentStep:
            self._reported[notice.attendee.conn] = status.currentStep
        self._noticed.set()

    async def _next_notice(self) -> None:
        self._noticed.clear()
        await self._noticed.wait()

    async def play(self) -> int:
        """Play the whole plan; returns how many events were played (fewer when stepping
        ended early)."""
        while len(self.presenter.attendees) < self.wait_for:
            await self._next_notice()  # no timeout: a workshop waits for its people
        joined = len(self.presenter.attendees)
        logger.info("[SessionManager] %d attendee(s) joined: playing", joined)
        start = time.monotonic()
        for index, planned in enumerate(self.plan):
            if self._next_step is not None:
                if not await self._next_step(index, planned):
                    break
            else:
                await asyncio.sleep(max(0.0, start + planned.delay - time.monotonic()))
            self._reported.clear()  # from now on, results are for this event
            sent = self.presenter.broadcast(planned.event)
            self.played += 1
            self._on_played(index, planned, sent)
        await self._wait_for_results()
        return self.played

    async def _wait_for_results(self) -> None:
        last = self.plan[self.played - 1].event if self.played else None
        if not isinstance(last, StepEvent):
            return
        try:
            async with asyncio.timeout(self.result_grace):
                while any(
                    self._reported.get(a.conn) != last.stepId for a in self.presenter.attendees
                ):
                    await self._next_notice()
        except TimeoutError:
            logger.info("[SessionManager] Not every attendee reported the last step")
