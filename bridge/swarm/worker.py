"""A swarm worker: one process holding some of a swarm's attendees.

Each attendee is a LiveAttendee (reconnecting, sequence numbers); browser attendees also
replay in one shared headless Chromium, a context each, and report each result to the
presenter as `follow` does, then take their screenshot. Everything that happens goes to the
parent as JSON lines on stdout (`bridge/swarm/reports.py`). The worker ends when every
attendee's session is over, or when its standard input closes, SIGTERM or Ctrl-C: then its
attendees leave the session cleanly.

Run by `bridge/swarm/runner.py` as `python -m bridge.swarm.worker SPEC`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.config import Config, load_config
from bridge.logs import setup_logging
from bridge.protocol.binarypack import PartialBudget
from bridge.protocol.events import (
    AttendeeMode,
    AttendeeState,
    Navigation,
    SessionStart,
    StepEvent,
    guide_url,
)
from bridge.protocol.joincode import JoinCode
from bridge.report.model import event_key, step_of
from bridge.session.live import LiveAttendee
from bridge.swarm.reports import (
    Connected,
    Ended,
    HeartbeatHeard,
    Joined,
    JoinFailed,
    Received,
    Reconnecting,
    Replayed,
    Report,
    Usage,
    to_line,
)
from bridge.transport.endpoint import SignalingEndpoint

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from bridge.browser.replay import ActionReplay
    from bridge.browser.snapshot import Snapshots

logger = logging.getLogger("bridge.swarm")

USAGE_INTERVAL = 2.0
HEARTBEAT_POLL = 0.5


@dataclass(frozen=True)
class WorkerSpec:
    worker: int
    code: str
    #: (index in the swarm, name) of each attendee this worker holds.
    attendees: list[tuple[int, str]]
    mode: str = "guided"
    browsers: bool = False
    grafana: str = ""
    report_dir: str = ""
    config_file: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    join_concurrency: int = 8
    verbosity: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        data["attendees"] = [(int(i), str(n)) for i, n in data["attendees"]]
        return cls(**data)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def now_ms() -> float:
    return time.time() * 1000


class SwarmWorker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.config: Config = load_config(
            Path(spec.config_file) if spec.config_file else None, overrides=spec.overrides
        )
        self.code = JoinCode.parse(spec.code)
        self.endpoint = SignalingEndpoint.parse(
            self.config.client.server_url, self.config.client.key
        )
        self.mode = AttendeeMode(spec.mode)
        self._lives: dict[int, LiveAttendee] = {}
        self._heard: dict[int, float] = {}
        self._heartbeats: dict[int, tuple[float, int] | None] = {}
        self._gate = asyncio.Semaphore(spec.join_concurrency)
        #: One budget of chunked bytes in flight for all of this worker's attendees.
        self._partials = PartialBudget(self.config.client.max_partial_bytes)
        self._browser: Browser | None = None
        self._tries = 0

    def emit(self, report: Report) -> None:
        print(to_line(report), flush=True)

    def usage(self, phase: str) -> None:
        self.emit(Usage(self.spec.worker, phase, cpu_seconds(), now_ms()))

    async def run(self) -> int:
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watch_stdin(stop)
        ticker = asyncio.create_task(self._tick(), name="usage")
        playwright = None
        try:
            if self.spec.browsers:
                from playwright.async_api import async_playwright

                from bridge.browser.launch import launch_chromium

                playwright = await async_playwright().start()
                self._browser = await launch_chromium(
                    playwright, self.config.browser, headless=True
                )
            attendees = [
                asyncio.create_task(self._attend(index, name), name=f"attendee-{index}")
                for index, name in self.spec.attendees
            ]
            everyone: asyncio.Future[Any] = asyncio.gather(*attendees, return_exceptions=True)
            await asyncio.wait([everyone, stop], return_when=asyncio.FIRST_COMPLETED)
            # Leaving: every attendee says goodbye, then its loop ends by itself.
            await asyncio.gather(
                *(live.close() for live in self._lives.values()), return_exceptions=True
            )
            try:
                async with asyncio.timeout(15):
                    await everyone
            except TimeoutError:
                for task in attendees:
                    task.cancel()
                await asyncio.gather(*attendees, return_exceptions=True)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            await asyncio.gather(
                *(live.close(leave=False) for live in self._lives.values()),
                return_exceptions=True,
            )
            if self._browser is not None:
                with contextlib.suppress(Exception):
                    await self._browser.close()
            if playwright is not None:
                await playwright.stop()
            self.usage("final")
        return 0

    def _watch_stdin(self, stop: asyncio.Future[None]) -> None:
        """The parent closes our stdin to end the swarm (read by a daemon thread, which
        never holds up the exit)."""
        loop = asyncio.get_running_loop()

        def read() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(self._stop, stop)

        threading.Thread(target=read, name="stdin", daemon=True).start()

    @staticmethod
    def _stop(stop: asyncio.Future[None]) -> None:
        if not stop.done():
            stop.set_result(None)

    async def _tick(self) -> None:
        """Heartbeats as they arrive (the session keeps the last one), and CPU usage."""
        next_usage = time.monotonic() + USAGE_INTERVAL
        while True:
            await asyncio.sleep(HEARTBEAT_POLL)
            for index, live in self._lives.items():
                beat = live.session.last_heartbeat
                if beat is not None and beat != self._heartbeats.get(index):
                    self._heartbeats[index] = beat
                    self._heard[index] = beat[1]
                    self.emit(HeartbeatHeard(index, beat[0], beat[1]))
            if time.monotonic() >= next_usage:
                next_usage += USAGE_INTERVAL
                self.usage("tick")

    def _tried(self) -> None:
        """One attendee joined or failed; once all have, a usage report marks the moment."""
        self._tries += 1
        if self._tries == len(self.spec.attendees):
            self.usage("joined")

    def _on_state(self, index: int, text: str) -> None:
        if text.startswith("presenter disconnected"):
            self.emit(Reconnecting(index, self._heard.get(index, now_ms())))

    async def _attend(self, index: int, name: str) -> None:
        replay: ActionReplay | None = None
        snapshots: Snapshots | None = None
        try:
            if self._browser is not None:
                replay, snapshots = await self._open_browser(name)
            live = LiveAttendee(
                self.config.client,
                self.endpoint,
                self.code,
                name=name,
                mode=self.mode,
                on_state=lambda text: self._on_state(index, text),
                partial_budget=self._partials,
            )
            started = time.monotonic()
            try:
                async with self._gate:
                    await live.join()
            except Exception as exc:
                self.emit(JoinFailed(index, str(exc) or type(exc).__name__))
                self._tried()
                return
            self._lives[index] = live
            self.emit(Joined(index, (time.monotonic() - started) * 1000))
            self._tried()
            await self._listen(index, name, live, replay, snapshots)
            assert live.outcome is not None
            reason = live.outcome.result() if live.outcome.done() else "left"
            self.emit(Ended(index, reason, now_ms()))
        finally:
            if replay is not None:
                await replay.close()

    async def _open_browser(self, name: str) -> tuple[ActionReplay, Snapshots | None]:
        from bridge.browser.replay import ActionReplay
        from bridge.browser.snapshot import Snapshots
        from bridge.report.files import SHOTS

        replay = ActionReplay(self.config.browser, self.spec.grafana, mode=self.mode)
        page = await replay.start(browser=self._browser)
        snapshots = None
        if self.spec.report_dir:
            snapshots = Snapshots(page, Path(self.spec.report_dir) / SHOTS, name)
        return replay, snapshots

    async def _listen(
        self,
        index: int,
        name: str,
        live: LiveAttendee,
        replay: ActionReplay | None,
        snapshots: Snapshots | None,
    ) -> None:
        guide = ""
        while (event := await live.next_event()) is not None:
            arrived = now_ms()
            self._heard[index] = arrived
            key = event_key(event)
            if isinstance(event, SessionStart):
                self.emit(Connected(index, live.session.join_sent_ms, event.timestamp, arrived))
            self.emit(
                Received(
                    index,
                    key,
                    event.TYPE,
                    step_of(event),
                    str(event)[:300],
                    event.timestamp,
                    arrived,
                )
            )
            if replay is None:
                continue
            url = guide_url(event)
            if url and url != guide:
                guide = url
                await replay.open_guide(url)
                if isinstance(event, Navigation):
                    self.emit(Replayed(index, key, True, "opened the guide", now_ms()))
            if isinstance(event, StepEvent):
                result = await replay.replay(event)
                if result.ok:
                    live.report(AttendeeState.JOINED, step=event.stepId)
                else:
                    live.report(AttendeeState.ERROR, step=event.stepId, error=result.detail[:300])
                shot = ""
                if snapshots is not None:  # after the result went out: the picture waits
                    path = await snapshots.take(f"{event.TYPE}-{event.stepId}")
                    shot = path.name if path is not None else ""
                self.emit(
                    Replayed(index, key, result.ok, result.detail, result.finished_at_ms, shot)
                )


def main(argv: list[str]) -> int:
    from bridge.commands.common import run_async

    spec = WorkerSpec.from_json(argv[1])
    setup_logging(spec.verbosity)
    return run_async(SwarmWorker(spec).run)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
