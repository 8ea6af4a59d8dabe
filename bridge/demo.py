"""`pathfinder-bridge demo`: a whole Live Session on this machine, on the bundled sandbox.

It starts the signaling server and two sandboxes (the presenter's runs as one Grafana
version, the attendees' as another), a presenter whose Grafana tab walks a guide by clicking
its Show me and Do it buttons, and two attendees, one guided and one in follow mode, each in
its own browser context. It prints the event flow and a table: per event, when it was
captured, delivered to each attendee, and what the replay did, with latencies; with a report
folder, also a session report with a screenshot of each attendee's Grafana after each replay.

With a built Pathfinder plugin (`--pathfinder DIST`), Rita joins too: the real panel in her own
sandbox, joined through its "Join live session" dialog. What her panel did with each event is
read from her page (its highlight and the element under it, or the notification it showed),
and she does each step herself after the presenter, as Grace does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from bridge.browser.capture import ActionCapture, CapturedStep
from bridge.browser.launch import add_script, launch_chromium
from bridge.browser.replay import ActionReplay, ReplayResult
from bridge.browser.snapshot import Snapshots
from bridge.commands.terminal import say
from bridge.config import Config
from bridge.protocol.events import AttendeeMode, AttendeeState, StepEvent, guide_url
from bridge.report.files import SHOTS, write_report
from bridge.report.model import Outcome, ReportBuilder, SessionReport
from bridge.sandbox.realpanel import GUIDE_SCHEME, RealPanel
from bridge.sandbox.server import SandboxServer, SandboxSettings, guides
from bridge.sandbox.walk import step_buttons
from bridge.session.live import LiveAttendee, LivePresenter
from bridge.signaling.server import SignalingServer
from bridge.transport.endpoint import SignalingEndpoint

ENABLED = (
    "(id) => { const b = document.querySelector(`[data-testid='${id}']`); return b && !b.disabled }"
)
PRESENTER_VERSION = "12.0.0"
ATTENDEE_VERSION = "11.0.0"
REAL_ATTENDEE = "Rita"
#: How long the real panel may take to show what it did with an event.
REAL_ANSWER = 3.0
#: How long Rita waits for a step of her own to be doable, and for it to finish (a multistep
#: shows each of its actions).
REAL_STEP_READY, REAL_STEP_DONE = 10.0, 30.0
OFFER = "([kind, id]) => window.__pathfinderBridgeRealAttendee.offer(kind, id)"
DONE = "(id) => window.__pathfinderBridgeRealAttendee.done(id)"


@dataclass(frozen=True)
class RealAnswer:
    """What Rita's real panel showed: a highlight over an element, or a notification."""

    at_ms: float
    kind: str
    text: str


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
        pathfinder: Path | None = None,
    ) -> None:
        self.config = config
        self.pathfinder = pathfinder
        self.real_page: Page | None = None
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
        self._real_site: SandboxServer | None = None
        #: Our own attendees (Grace, Finn): a row is done once they answered; Rita's answer
        #: is read from her page after that.
        self._ours: list[str] = []
        self._real_answers: list[RealAnswer] = []
        self._real_answered = asyncio.Event()

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
                # With Rita, the guide goes by the name both panels load: the real one loads
                # sandbox guides through its guide API only (an attendee opens the session's).
                guide = (
                    f"{GUIDE_SCHEME}{self.guide}"
                    if self.pathfinder is not None
                    else presenter_site.guide_url(self.guide)
                )
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
                self._ours = list(self.names)
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
                if self.pathfinder is not None:
                    await self._real_attendee(browser, signaling.url, code.encode())
                try:
                    await self._walk(page)
                finally:
                    await presenter.stop("The demo is over")
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await capture.close()
                    for replay in replays:
                        await replay.close()
                    await browser.close()
                    if self._real_site is not None:
                        self._real_site.stop()
        self._summary()
        if self.report is not None:
            say(f"Report: {write_report(self._session_report(), self.report)}")
        return 0

    async def _real_attendee(self, browser: Browser, signaling_url: str, code: str) -> None:
        """Rita: the real Pathfinder panel in her own sandbox, joined through its dialog."""
        assert self.pathfinder is not None
        panel = await asyncio.to_thread(
            RealPanel.prepare, self.pathfinder, signaling_url, self.config.server.key
        )
        site = SandboxServer(SandboxSettings(grafana_version=ATTENDEE_VERSION, real_panel=panel))
        site.start()
        self._real_site = site
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.expose_binding("__pathfinderBridgeWatch", self._real_saw)
        await add_script(context, "real_attendee.js")
        page = self.real_page = await context.new_page()
        if self.report is not None:
            self.snapshots[REAL_ATTENDEE] = Snapshots(page, self.report / SHOTS, REAL_ATTENDEE)
        await page.goto(f"{site.url}/?doc={site.guide_url(self.guide)}")
        await page.get_by_role("button", name="Join live session").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_test_id("live-session-attendee-code").fill(code)
        await dialog.get_by_role("button", name="Next", exact=True).click()
        await dialog.get_by_placeholder("Enter your name...").fill(REAL_ATTENDEE)
        await dialog.get_by_role("button", name="Join session").click()
        await dialog.wait_for(state="detached", timeout=10_000)
        self.names.append(REAL_ATTENDEE)
        self.modes[REAL_ATTENDEE] = AttendeeMode.GUIDED
        say(f"Attendee {REAL_ATTENDEE} joined with the real Pathfinder {panel.build.version} panel")

    def _real_saw(self, source: Any, payload: Any) -> None:
        """Called from Rita's page: parse, never trust."""
        if not isinstance(payload, dict):
            return
        if payload.get("kind") == "highlight":
            text = f"highlight {str(payload.get('element', ''))[:60]}"
        elif payload.get("kind") == "notice" and payload.get("title") == "Live Session":
            text = str(payload.get("text", ""))[:200]
        else:
            return  # other notifications (the session banner) answer no event
        self._real_answers.append(RealAnswer(time.time() * 1000, str(payload["kind"]), text))
        self._real_answered.set()

    async def _real_result(self, row: Row) -> None:
        """What Rita's real panel did with an event: its highlight, or what it told her."""
        if self.real_page is None:
            return
        answer = None
        try:
            async with asyncio.timeout(REAL_ANSWER):
                while True:
                    self._real_answered.clear()
                    answers = [a for a in self._real_answers if a.at_ms >= row.captured_ms]
                    if answers:
                        answer = answers[0]
                        break
                    await self._real_answered.wait()
        except TimeoutError:
            pass
        if answer is None:
            result = ReplayResult(row.event.stepId, False, "no answer")
        elif answer.kind == "highlight":
            result = ReplayResult(row.event.stepId, True, answer.text, finished_at_ms=answer.at_ms)
        else:
            # The original tells a guided attendee about a multistep instead of showing it.
            told = "multi-step action" in answer.text
            detail = "told: the presenter runs a multistep" if told else answer.text
            result = ReplayResult(row.event.stepId, told, detail, finished_at_ms=answer.at_ms)
        row.delivered[REAL_ATTENDEE] = result.finished_at_ms
        row.results[REAL_ATTENDEE] = result
        snapshots = self.snapshots.get(REAL_ATTENDEE)
        shot = await snapshots.take(f"{row.event.TYPE}-{row.event.stepId}") if snapshots else None
        if shot is not None:
            row.screenshots[REAL_ATTENDEE] = shot
        step, clock = row.event.stepId, self._clock(result.finished_at_ms)
        say(f"{clock}  {REAL_ATTENDEE:9}  {row.event.TYPE:7} {step}: {result}")
        if row.event.TYPE == "do_it" and await self._real_do_it(step):
            say(f"{self._clock(time.time() * 1000)}  {REAL_ATTENDEE:9}  did {step} herself")

    async def _real_do_it(self, step_id: str) -> bool:
        """Rita does the step in her own panel, as a person does: when it is blocked she
        presses what the panel offers (Fix this, Retry), then Do it, and waits for it."""
        page = self.real_page
        assert page is not None
        try:
            async with asyncio.timeout(REAL_STEP_READY):
                while True:
                    offer = await (
                        await page.wait_for_function(OFFER, arg=["do-it", step_id])
                    ).json_value()
                    if offer == "ready":
                        break
                    # The panel may re-check the step meanwhile and take the offer away.
                    with contextlib.suppress(PlaywrightError):
                        await page.locator(
                            f'[data-testid="interactive-requirement-{offer}-{step_id}"]'
                        ).click(timeout=2000)
            await page.locator(f'[data-testid="interactive-do-it-{step_id}"]').click()
            await page.wait_for_function(DONE, arg=step_id, timeout=REAL_STEP_DONE * 1000)
        except (TimeoutError, PlaywrightError):
            return False
        self._real_answers.clear()  # her own highlights while doing it answer no event
        return True

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
                if len(row.results) >= len(self._ours):
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
        """Click every Show me, then Do it, of every step once enabled, as a presenter would."""
        await page.wait_for_selector(".interactive-step")
        (blocks,) = [guide["blocks"] for guide in guides() if guide["id"] == self.guide]
        for kind, step_id in step_buttons(blocks):
            button = page.locator(f'[data-testid="interactive-{kind}-{step_id}"]')
            try:
                await page.wait_for_function(
                    ENABLED, arg=f"interactive-{kind}-{step_id}", timeout=3000
                )
            except PlaywrightError:
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
                await self._real_result(self.rows[-1])
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
        if REAL_ATTENDEE in self.names:
            say(
                f"{REAL_ATTENDEE} runs the original's replay: it finds a target by plain CSS or "
                "button text, so grafana: tokens, :contains() / :nth-match() / :text() and a "
                "navigate step's URL are not found there; ours resolve them."
            )

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
