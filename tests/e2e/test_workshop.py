"""Workshops that run themselves, as a user runs them: record a session, replay it to new
attendees with the same results, swarm a session, and open the reports in Chromium.

Presenters and attendees are `pathfinder-bridge` processes on sandboxes; the tests click in
the presenter's Grafana through its --remote-debugging-port, as in test_browser_agents.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright

from bridge.recording.files import read_recording
from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.conftest import UNIT
from tests.e2e.test_browser_agents import (
    ATTENDEE_VERSION,
    PRESENTER_VERSION,
    attach,
    click_step,
    code_of,
    start_attendee,
)
from tests.servers import CliProcess, free_port

#: welcome-tour steps, clicked in this order (the last three need the presenter's menu open).
CLICKS = [
    ("show-me", "open-menu"),
    ("do-it", "open-menu"),
    ("show-me", "dashboards-link"),
    ("do-it", "go-dashboards"),
]


@pytest.fixture(scope="module")
def presenter_site() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxSettings(grafana_version=PRESENTER_VERSION)) as site:
        yield site


def new_attendee_site() -> SandboxServer:
    return SandboxServer(SandboxSettings(grafana_version=ATTENDEE_VERSION))


def present(server: str, site: SandboxServer, port: int, *extra: str) -> CliProcess:
    process = CliProcess(
        "present",
        "--grafana",
        site.url,
        "--guide",
        site.guide_url("welcome-tour"),
        "--server",
        server,
        "--headless",
        "--remote-debugging-port",
        str(port),
        "--name",
        "Workshop",
        *extra,
    )
    process.wait_for(lambda line: line.startswith("Session "), 30 * UNIT)
    return process


def walk(page: Page, presenter: CliProcess) -> None:
    for kind, step in CLICKS:
        click_step(page, kind, step)
        event = kind.replace("-", "_")
        presenter.wait_for(lambda line, e=event, s=step: line.startswith(f"> {e} ") and s in line)


def wait_results(recording: Path, count: int) -> None:
    """Until the presenter's recording holds `count` replay results (its terminal shows a
    repeated notice once, so the file is what counts)."""
    deadline = time.monotonic() + 20 * UNIT
    while (
        sum(1 for line in recording.read_text().splitlines() if '"kind":"result"' in line) < count
    ):
        assert time.monotonic() < deadline, recording.read_text()[-1000:]
        time.sleep(0.1)


def results_of(path: Path) -> list[tuple[str, str, bool, str]]:
    return sorted((r.attendee, r.step, r.ok, r.detail) for r in read_recording(path).results)


def follow_with_report(
    server: str, code: str, site: SandboxServer, report: Path, recording: Path
) -> CliProcess:
    """Finn in follow mode, keeping a report and his own recording."""
    process = CliProcess(
        "follow",
        code,
        "--grafana",
        site.url,
        "--mode",
        "follow",
        "--name",
        "Finn",
        "--headless",
        "--server",
        server,
        "--report",
        str(report),
        "--record",
        str(recording),
        stdin=True,
        env={"PATHFINDER_BRIDGE_BROWSER_ACTION_TIMEOUT": "2"},
    )
    process.wait_for(lambda line: line.startswith("Opened guide"), 30 * UNIT)
    return process


def test_record_then_replay_to_a_guided_and_a_follow_attendee(
    playwright: Playwright, page: Page, server: str, presenter_site: SandboxServer, tmp_path: Path
) -> None:
    recorded, replayed = tmp_path / "workshop.jsonl", tmp_path / "replayed.jsonl"
    finn_report, finn_recording = tmp_path / "finn-report", tmp_path / "finn.jsonl"
    ports = [free_port() for _ in range(3)]
    with (
        present(server, presenter_site, ports[0], "--record", str(recorded)) as presenter,
        new_attendee_site() as attendee_site,
    ):
        code = code_of(presenter)
        with (
            start_attendee(server, code, attendee_site, "guided", "Grace", ports[1]) as grace,
            start_attendee(server, code, attendee_site, "follow", "Finn", ports[2]) as finn,
        ):
            walk(attach(playwright, ports[0]), presenter)
            wait_results(recorded, 2 * len(CLICKS))
            assert presenter.stop() == 0
            for attendee in (grace, finn):
                attendee.wait_for(lambda line: line.startswith("Session ended"), 20 * UNIT)
    recording = read_recording(recorded)
    assert recording.header.grafana_version == PRESENTER_VERSION
    assert recording.header.guide == presenter_site.guide_url("welcome-tour")
    assert [r.event.TYPE for r in recording.events if r.event.TYPE != "navigation"] == [
        kind.replace("-", "_") for kind, _ in CLICKS
    ]
    original = results_of(recorded)
    assert len(original) == 2 * len(CLICKS)
    assert all(ok for name, _, ok, _ in original if name == "Finn"), original

    # The on-demand workshop: nobody clicks; the recording plays once both have joined.
    with (
        CliProcess(
            "present",
            "--replay",
            str(recorded),
            "--speed",
            "4",
            "--wait-for",
            "2",
            "--record",
            str(replayed),
            "--server",
            server,
            "--grafana",
            presenter_site.url,
        ) as player,
        new_attendee_site() as attendee_site,
    ):
        code = player.wait_for(lambda line: line.startswith("Join code: ")).removeprefix(
            "Join code: "
        )
        with (
            start_attendee(server, code, attendee_site, "guided", "Grace", free_port()) as grace,
            follow_with_report(server, code, attendee_site, finn_report, finn_recording) as finn,
        ):
            played = len(recording.events)  # the clicks, and the guide opening
            finished = player.wait_for(lambda line: line.startswith("Replay finished: "), 60 * UNIT)
            assert finished == f"Replay finished: {played} of {played} events played"
            assert player.process.wait(30 * UNIT) == 0
            for attendee in (grace, finn):
                attendee.wait_for(
                    lambda line: line == "Session ended: The recorded session is over", 20 * UNIT
                )
    assert results_of(replayed) == original
    assert "Traceback" not in player.stderr
    # Finn's own view: his recording holds the same results, and his report opens with a
    # picture after every replay.
    assert f"Report: {(finn_report / 'index.html').resolve()}" in finn.seen
    finn_results = sorted((r.step, r.ok) for r in read_recording(finn_recording).results)
    assert finn_results == sorted(
        (s, ok) for name, s, ok, _ in results_of(replayed) if name == "Finn"
    )
    seen = check_report_in_chromium(page, finn_report)
    assert len(seen["images"]) == len(CLICKS)  # type: ignore[arg-type]
    assert [row[2] for row in seen["timeline"] if row[2] != "navigation"] == [  # type: ignore[index]
        kind.replace("-", "_") for kind, _ in CLICKS
    ]


def test_a_bad_recording_is_refused_before_anything_is_sent(server: str, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps(
            {
                "format": "pathfinder-bridge-recording",
                "version": 1,
                "role": "presenter",
                "started": 0,
            }
        )
        + "\n"
        + json.dumps(
            {
                "t": 0,
                "kind": "event",
                "event": {
                    "type": "show_me",
                    "stepId": "s",
                    "action": {"targetAction": "highlight", "refTarget": "#a"},
                },
            }
        )
        + "\n"
    )
    cases = {
        "version.jsonl": (
            good.read_text().replace('"version": 1', '"version": 9'),
            "line 1: recording format version 9 is not supported",
        ),
        "truncated.jsonl": (good.read_text()[:-20], "line 2: truncated"),
        "unknown.jsonl": (
            good.read_text().replace("show_me", "self_destruct"),
            "line 2: unknown session event type 'self_destruct'",
        ),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with CliProcess("present", "--replay", str(path), "--server", server) as player:
            assert player.process.wait(30 * UNIT) == 1
        assert f"pathfinder-bridge: error: {path}: {message}" in player.stderr
        assert not player.seen  # no join code: nothing started, nothing sent
    with CliProcess("present", "--no-browser", "--step", "--server", server) as player:
        assert player.process.wait(30 * UNIT) == 1
    assert "--speed and --step pace a recording: give --replay FILE too" in player.stderr


def check_report_in_chromium(page: Page, folder: Path) -> dict[str, object]:
    """Open DIR/index.html from disk: every image loads; what the tables hold."""
    page.goto((folder / "index.html").as_uri())
    images = page.eval_on_selector_all(
        "img",
        "imgs => imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}))",
    )
    assert images and all(image["ok"] for image in images), images
    assert page.locator("svg.histogram rect").count() > 0
    return {
        "images": images,
        "timeline": page.eval_on_selector_all(
            "#timeline tr[data-key]", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
        ),
        "results": page.eval_on_selector_all(
            "#results tr[data-key]", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
        ),
    }


def test_a_swarm_of_20_with_2_in_chromium_on_a_sandbox_session(
    playwright: Playwright, page: Page, server: str, presenter_site: SandboxServer, tmp_path: Path
) -> None:
    port = free_port()
    report = tmp_path / "swarm-report"
    with present(server, presenter_site, port) as presenter:
        code = code_of(presenter)
        with CliProcess(
            "swarm",
            code,
            "-n",
            "20",
            "--browsers",
            "2",
            "--mode",
            "follow",
            "--json",
            "--report",
            str(report),
            "--server",
            server,
            "--status-interval",
            "1",
        ) as swarm:
            assert swarm.wait_for_stderr("Joined: 20/20 (0 failed)", 90 * UNIT), swarm.stderr
            walk(attach(playwright, port), presenter)
            replays = f"replays {2 * len(CLICKS)} ok, 0 failed"
            assert swarm.wait_for_stderr(replays, 30 * UNIT), swarm.stderr[-2000:]
            assert presenter.stop() == 0
            assert swarm.process.wait(60 * UNIT) == 0, swarm.stderr[-2000:]
            summary = json.loads(swarm.wait_for(lambda line: line.startswith("{")))
    assert (summary["attendees"], summary["joined"], summary["failed"], summary["missed"]) == (
        20,
        20,
        0,
        0,
    )
    assert summary["events"] == len(CLICKS) and summary["deliveries"] == 20 * len(CLICKS)
    assert summary["replays"] == {"ok": 2 * len(CLICKS), "failed": 0}
    assert summary["delivery_ms"]["count"] == 20 * len(CLICKS)
    assert not summary["clock"]["corrected"]
    status = swarm.stderr
    assert "Joined: 20/20 (0 failed)" in status
    assert "Swarm summary: 20 attendees, 20 joined, 0 failed to join, 0 events missed" in status
    assert "Traceback" not in status

    seen = check_report_in_chromium(page, report)
    assert [row[2] for row in seen["timeline"]] == [kind.replace("-", "_") for kind, _ in CLICKS]  # type: ignore[index]
    assert all(row[5] == "20 / 20" for row in seen["timeline"])  # type: ignore[index]
    assert len(seen["results"]) == 20 * len(CLICKS)  # type: ignore[arg-type]
    assert len(seen["images"]) == 2 * len(CLICKS)  # type: ignore[arg-type]


def test_demo_writes_a_report_that_opens_in_chromium(page: Page, tmp_path: Path) -> None:
    report = tmp_path / "demo-report"
    with CliProcess("demo", "--report", str(report), "--pause", "0.1") as demo:
        line = demo.wait_for(lambda line: line.startswith("Report: "), 120 * UNIT)
        assert demo.process.wait(30 * UNIT) == 0
    assert line == f"Report: {(report / 'index.html').resolve()}"
    table = [
        line.split()[:2]
        for line in demo.seen
        if line.startswith(("show_me ", "do_it ")) and line.split()[2].endswith("s")
    ]
    seen = check_report_in_chromium(page, report)
    assert [row[2:4] for row in seen["timeline"] if row[5] != "0 / 2"] == table  # type: ignore[index]
    assert len(seen["images"]) == 2 * len(table)  # type: ignore[arg-type]
    assert all(row[3] in ("ok", "failed") for row in seen["results"] if row[0] in ("Grace", "Finn"))  # type: ignore[index]
