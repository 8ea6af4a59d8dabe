"""`pathfinder-bridge demo`: a whole Live Session on this machine, on the bundled sandbox.

It starts the signaling server and two sandboxes (the presenter's runs as one Grafana
version, the attendees' as another), a presenter whose Grafana tab walks a guide by clicking
its Show me and Do it buttons, and two attendees, one guided and one in follow mode, each in
its own browser context. It prints the event flow and a table: per event, when it was
captured, delivered to each attendee, and what the replay did, with latencies; with a report
folder, also a session report with a screenshot of each attendee's Grafana after each replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Page, async_playwright

from bridge.browser.capture import ActionCapture, CapturedStep
from bridge.browser.launch import launch_chromium
from bridge.browser.replay import ActionReplay, ReplayResult
from bridge.browser.snapshot import Snapshots
from bridge.commands.terminal import say
from bridge.config import Config
from bridge.protocol.events import AttendeeMode, AttendeeState, StepEvent, guide_url
from bridge.report.files import SHOTS, write_report
from bridge.report.model import Outcome, ReportBuilder, SessionReport
from bridge.sandbox.server import SandboxServer, SandboxSettings
from bridge.session.live import LiveAttendee, LivePresenter
from bridge.signaling.server import SignalingServer
from bridge.transport.endpoint import SignalingEndpoint

ENABLED = (
    "(id) => { const b = document.querySelector(`[data-testid='${id}']`); return b && !b.disabled }"
)
PRESENTER_VERSION = "12.0.0"
ATTENDEE_VERSION = "11.0.0"


@dataclass
class Row:
    """One captured event and what became of it at each attendee."""

    event: StepEvent
    captured_ms: float
    delivered: dict[str, float] = field(default_factory=dict)
    results: dict[str, ReplayResult] = field(default_factory=dict)
    screenshots: dict[str, Path] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Demo:
    def __init__(
        self,
        config: Config,
        *,
        guide: str,
        headless: bool,
        pause: float,
        report: Path | None = None,
    ) -> None:
        self.config = config
        self.guide = guide
        self.headless = headless
        self.pause = pause
        self.report = report
        self.rows: list[Row] = []
        #: Steps the presenter could not click (requirements unmet): (kind, step, when).
        self.skipped: list[tuple[str, str, float]] = []
        self.names: list[str] = []
        self.modes: dict[str, AttendeeMode] = {}
        self.snapshots: dict[str, Snapshots] = {}
        self.session = ("", "", "")  # name, id, guide
        self.start_ms = time.time() * 1000

    def _row(self, event: StepEvent) -> Row | None:
        for row in reversed(self.rows):
            if row.event.TYPE == event.TYPE and row.event.stepId == event.stepId:
                return row
        return None

    async def run(self) -> int:
        server_config = dataclasses.replace(self.config.server, port=0)
        attendee_browser = dataclasses.replace(self.config.browser, action_timeout=2.0)
        async with SignalingServer(server_config) as signaling, async_playwright() as playwright:
            with (
                SandboxServer(SandboxSettings(grafana_version=PRESENTER_VERSION)) as presenter_site,
                SandboxServer(SandboxSettings(grafana_version=ATTENDEE_VERSION)) as attendee_site,
            ):
                endpoint = SignalingEndpoint.parse(signaling.url, server_config.key)
                guide = presenter_site.guide_url(self.guide)
                say(f"Signaling server  {signaling.url}")
                say(
                    f"Presenter sandbox {presenter_site.url} (Grafana {PRESENTER_VERSION} contract)"
                )
                say(f"Attendee sandbox  {attendee_site.url} (Grafana {ATTENDEE_VERSION} contract)")
                browser = await launch_chromium(
                    playwright, self.config.browser, headless=self.headless
                )
                presenter = LivePresenter(
                    self.config.client, endpoint, name="Demo session", tutorial_url=guide
                )
                code = await presenter.start()
                self.session = ("Demo session", code.id, guide)
                say(f"Join code: {code.encode()}")

                def on_step(step: CapturedStep) -> None:
                    row = Row(step.event, step.captured_at_ms)
                    self.rows.append(row)
                    presenter.broadcast(step.event)
                    clock = self._clock(step.captured_at_ms)
                    say(f"{clock}  presenter  {step.event.TYPE:7} {step.event.stepId}")

                capture = ActionCapture(self.config.browser, presenter_site.url, on_step=on_step)
                page = await capture.start(browser=browser)
                await capture.open_guide(guide)
                attendees = [("Grace", AttendeeMode.GUIDED), ("Finn", AttendeeMode.FOLLOW)]
                self.names = [name for name, _ in attendees]
                self.modes = dict(attendees)
                tasks = []
                replays = []
                for name, mode in attendees:
                    replay = ActionReplay(attendee_browser, attendee_site.url, mode=mode)
                    attendee_page = await replay.start(browser=browser)
                    if self.report is not None:
                        shots = self.report / SHOTS
                        self.snapshots[name] = Snapshots(attendee_page, shots, name)
                    live = LiveAttendee(self.config.client, endpoint, code, name=name, mode=mode)
                    await live.join()
                    replays.append(replay)
                    tasks.append(asyncio.create_task(self._attend(name, mode, live, replay)))
                    say(f"Attendee {name} joined in {mode.value} mode")
                try:
                    await self._walk(page)
                finally:
                    await presenter.stop("The demo is over")
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await capture.close()
                    for replay in replays:
                        await replay.close()
                    await browser.close()
        self._summary()
        if self.report is not None:
            say(f"Report: {write_report(self._session_report(), self.report)}")
        return 0

    def _clock(self, epoch_ms: float) -> str:
        return f"{(epoch_ms - self.start_ms) / 1000:7.3f}s"

    async def _attend(
        self, name: str, mode: AttendeeMode, live: LiveAttendee, replay: ActionReplay
    ) -> None:
        opened = ""
        try:
            while (event := await live.next_event()) is not None:
                received = time.time() * 1000
                url = guide_url(event)
                if url and url != opened:
                    opened = url
                    await replay.open_guide(url)
                if not isinstance(event, StepEvent):
                    continue
                row = self._row(event)
                result = await replay.replay(event)
                live.report(
                    AttendeeState.JOINED if result.ok else AttendeeState.ERROR,
                    step=event.stepId,
                    error=None if result.ok else result.detail[:300],
                )
                # The picture comes after the result went out, and before Grace's own click.
                snapshots = self.snapshots.get(name)
                shot = await snapshots.take(f"{event.TYPE}-{event.stepId}") if snapshots else None
                if row is None:
                    continue
                if shot is not None:
                    row.screenshots[name] = shot
                row.delivered[name] = received
                row.results[name] = result
                clock = self._clock(result.finished_at_ms)
                say(f"{clock}  {name:9}  {event.TYPE:7} {event.stepId}: {result}")
                # A guided attendee is a person who follows along: after seeing the
                # highlight, Grace clicks Do it in her own guide herself.
                if (
                    mode is AttendeeMode.GUIDED
                    and event.TYPE == "do_it"
                    and replay.page is not None
                    and await self._follow_along(replay.page, event.stepId)
                ):
                    say(f"{self._clock(time.time() * 1000)}  {name:9}  did {event.stepId} herself")
                if len(row.results) == len(self.names):
                    row.done.set()
        finally:
            await live.close()

    @staticmethod
    async def _follow_along(page: Page, step_id: str) -> bool:
        button = page.locator(f'[data-testid="interactive-do-it-{step_id}"]')
        try:
            await button.click(timeout=2000)
        except Exception:
            return False
        await page.wait_for_timeout(150)
        return True

    async def _walk(self, page: Page) -> None:
        """Click every enabled Show me, then Do it, of every step, as a presenter would."""
        await page.wait_for_selector(".interactive-step")
        step_ids = await page.eval_on_selector_all(
            ".interactive-step", "steps => steps.map(s => s.getAttribute('data-step-id'))"
        )
        for step_id in step_ids:
            for kind in ("show-me", "do-it"):
                button = page.locator(f'[data-testid="interactive-{kind}-{step_id}"]')
                if not await button.count():
                    continue
                try:
                    await page.wait_for_function(
                        ENABLED, arg=f"interactive-{kind}-{step_id}", timeout=3000
                    )
                except Exception:
                    say(f"          presenter  {kind:7} {step_id}: skipped (requirements unmet)")
                    self.skipped.append((kind, step_id, time.time() * 1000))
                    continue
                before = len(self.rows)
                box = await button.bounding_box()
                if box is None:
                    continue
                await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                if len(self.rows) == before:
                    await asyncio.sleep(0.05)
                if len(self.rows) > before:
                    try:
                        async with asyncio.timeout(10):
                            await self.rows[-1].done.wait()
                    except TimeoutError:
                        say("          (an attendee did not answer in time)")
                await asyncio.sleep(self.pause)

    def _summary(self) -> None:
        say("")
        say(
            "Event                                  captured  "
            + "  ".join(
                f"{name + ' delivered':>15}  {name + ' replayed':<38}  {'latency':>8}"
                for name in self.names
            )
        )
        for row in self.rows:
            cells = [
                f"{row.event.TYPE + ' ' + row.event.stepId:<38} {self._clock(row.captured_ms)}"
            ]
            for name in self.names:
                result = row.results.get(name)
                delivered = row.delivered.get(name)
                if result is None or delivered is None:
                    cells.append(f"{'-':>15}  {'no result':<38}  {'-':>8}")
                    continue
                text = ("ok " if result.ok else "FAILED ") + result.detail
                cells.append(
                    f"{delivered - row.captured_ms:>12.1f} ms  {text[:38]:<38}  "
                    f"{result.finished_at_ms - row.captured_ms:>5.0f} ms"
                )
            say("  ".join(cells))
        for name in self.names:
            results = [row.results[name] for row in self.rows if name in row.results]
            ok = sum(r.ok for r in results)
            say(f"{name}: {ok}/{len(results)} replays ok")

    def _session_report(self) -> SessionReport:
        """The demo as a session report: each captured event and what each attendee's
        replay did, with click-to-replay latency and a screenshot; unclickable steps skipped."""
        assert self.report is not None
        name, session_id, guide = self.session
        builder = ReportBuilder(
            title=f"Demo report: {self.guide}",
            latency_meaning="click to replay done",
            started_ms=self.start_ms,
            session_name=name,
            session_id=session_id,
            guide=guide,
            notes=[
                f"Presenter's sandbox runs as Grafana {PRESENTER_VERSION}, the attendees' as "
                f"Grafana {ATTENDEE_VERSION} (the sandbox: Grafana's DOM contract, not Grafana)."
            ],
        )
        for attendee in self.names:
            builder.attendee(attendee, self.modes[attendee].value, browser=True)
        for number, row in enumerate(self.rows, start=1):
            key = f"event-{number}"
            builder.event(key, row.captured_ms, row.event)
            for attendee in self.names:
                result = row.results.get(attendee)
                if result is None:
                    builder.result(attendee, key, Outcome.FAILED, reason="no result")
                    continue
                shot = row.screenshots.get(attendee)
                builder.result(
                    attendee,
                    key,
                    Outcome.OK if result.ok else Outcome.FAILED,
                    reason=result.detail,
                    latency_ms=result.finished_at_ms - row.captured_ms,
                    screenshot=shot.relative_to(self.report).as_posix() if shot else None,
                )
        for kind, step_id, at in self.skipped:
            key = f"skipped-{kind}-{step_id}"
            event_type = kind.replace("-", "_")
            builder.timeline_entry(key, at, event_type, step_id, f"{event_type} (step {step_id})")
            for attendee in self.names:
                builder.result(
                    attendee,
                    key,
                    Outcome.SKIPPED,
                    reason="the presenter could not click it (requirements unmet)",
                )
        return builder.build()
