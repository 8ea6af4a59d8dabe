"""On a terminal (a pseudo-terminal here), `present` keeps its attendee table in place and
redraws it; the public lines stay as they are. Piped output stays line-based
(test_session_cli.py covers that)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from tests.conftest import UNIT
from tests.servers import ROOT, CliProcess, bridge_command

CURSOR_UP = "\x1b[1A"  # rich's Live moves up over the table to redraw it


def read_until(fd: int, wanted: str, seen: list[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while wanted not in "".join(seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{wanted!r} not on the terminal; saw {''.join(seen)[-800:]!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen.append(os.read(fd, 65536).decode("utf-8", "replace"))
            except OSError:  # the process closed its side
                break
    return "".join(seen)


def test_present_keeps_a_live_table_on_a_terminal(server: str) -> None:
    main, side = pty.openpty()
    presenter = subprocess.Popen(
        bridge_command("present", "--no-browser", "--server", server, "--name", "Live"),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=side,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"},
    )
    os.close(side)
    seen: list[str] = []
    try:
        text = read_until(main, "waiting for attendees", seen, 20 * UNIT)
        code_line = next(line for line in text.splitlines() if line.startswith("Join code: "))
        assert any(line.startswith("Join URL: http") for line in text.splitlines())
        with CliProcess(
            "follow",
            code_line.removeprefix("Join code: ").strip(),
            "--no-browser",
            "--name",
            "Ada",
            "--server",
            server,
        ) as follower:
            follower.wait_for(lambda line: line.startswith("Joined session"), 20 * UNIT)
            text = read_until(main, "Ada joined", seen, 20 * UNIT)
            read_until(main, "Attendees (1)", seen, 10 * UNIT)
            # The table's rows may come in a later read than its title.
            deadline = time.monotonic() + 5 * UNIT
            while "Ada" not in "".join(seen).split("Attendees (1)", 1)[1]:
                assert time.monotonic() < deadline, "Ada is not in the attendee table"
                if select.select([main], [], [], 0.5)[0]:
                    seen.append(os.read(main, 65536).decode("utf-8", "replace"))
            redraws = "".join(seen).count(CURSOR_UP)
            # Redrawn in place (4 times a second), not printed again below.
            deadline = time.monotonic() + 5 * UNIT
            while "".join(seen).count(CURSOR_UP) <= redraws + 4:
                assert time.monotonic() < deadline, "the table was not redrawn"
                if select.select([main], [], [], 0.5)[0]:
                    seen.append(os.read(main, 65536).decode("utf-8", "replace"))
            text = "".join(seen)
            assert "│" in text or "┃" in text  # a drawn table, not the piped one
    finally:
        presenter.send_signal(2)
        assert presenter.wait(20 * UNIT) == 0
        os.close(main)
        assert presenter.stderr is not None
        assert "Traceback" not in presenter.stderr.read().decode()
