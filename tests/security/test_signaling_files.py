"""Issue 9, smaller items: the files of `signal start` and the server's reservation file.

The log names peers and addresses, the pid file decides what `stop` signals, and the
reservation file decides who owns an id after a restart: none is anybody else's business.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from websockets.asyncio.client import connect

from tests.conftest import UNIT
from tests.servers import ROOT, CliProcess, free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def signal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "signal", *args],
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        cwd=ROOT,
    )


def test_signal_start_writes_owner_only_files(tmp_path: Path) -> None:
    port = str(free_port())
    folder = tmp_path / "new" / "state"
    common = ["--port", port, "--state-dir", str(folder)]
    started = signal("start", *common)
    try:
        assert started.returncode == 0, started.stderr
        assert mode(folder) == 0o700
        assert mode(folder / f"signal-{port}.pid") == 0o600
        assert mode(folder / f"signal-{port}.log") == 0o600
    finally:
        signal("stop", *common)


def test_a_log_left_world_readable_is_tightened(tmp_path: Path) -> None:
    port = str(free_port())
    log = tmp_path / f"signal-{port}.log"
    log.write_text("an older run\n")
    os.chmod(log, 0o644)
    common = ["--port", port, "--state-dir", str(tmp_path)]
    try:
        assert signal("start", *common).returncode == 0
        assert mode(log) == 0o600
        assert log.read_text().startswith("an older run\n")  # appended to, not replaced
    finally:
        signal("stop", *common)


def test_a_bad_reservation_file_is_reported_ignored_and_replaced(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / f"signal-{port}.reservations.json"
    for content, file_mode, reason in (
        ("{ not json", 0o600, "not valid JSON"),
        (json.dumps({"format": "pathfinder-bridge/signaling-reservations"}), 0o644, "0644"),
    ):
        path.write_text(content)
        os.chmod(path, file_mode)
        with CliProcess("signal", "--port", str(port), "--state-dir", str(tmp_path)) as server:
            server.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
            assert server.wait_for_stderr("Ignored the reservation file", 5 * UNIT)
            assert reason in server.stderr
            # It runs, and the next write replaces the bad file with its own.
            server.stop()
        document = json.loads(path.read_text())
        assert document["format"] == "pathfinder-bridge/signaling-reservations"
        assert mode(path) == 0o600


async def test_the_reservation_file_holds_no_token(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / f"signal-{port}.reservations.json"
    token = "do-not-store-me-0123456789"
    url = f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&id=pres01&token={token}"
    with CliProcess("signal", "--port", str(port), "--state-dir", str(tmp_path)) as server:
        server.wait_for(lambda line: line.startswith("Ready for connections"), 20 * UNIT)
        async with connect(url, open_timeout=10 * UNIT) as ws:
            assert json.loads(await ws.recv()) == {"type": "OPEN"}
            async with asyncio.timeout(10 * UNIT):
                while "pres01" not in await asyncio.to_thread(read_or_empty, path):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            server.stop()  # with the owner connected: its id is kept across the restart
    text = path.read_text()
    assert "pres01" in text and token not in text
    assert mode(path) == 0o600


def read_or_empty(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
