"""`make test`: the suite as two pytest processes at once.

One runs the tests on pytest-playwright's sync browser (marked `sync_browser` by
tests/conftest.py), the other everything else. Most of the suite waits on sockets, timers and
other processes rather than computing, so two processes on two cores finish in a little over
half the time of one. Each process's output is printed whole when it ends, so the two never
interleave; the exit status is the first failure's.

    python tests/run_suite.py [pytest arguments...]
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = (
    ("tests without the sync browser", "not sync_browser"),
    ("tests on the sync browser", "sync_browser"),
)


def main(args: list[str]) -> int:
    started = time.monotonic()
    status = 0
    with contextlib.ExitStack() as stack:
        pending = []
        for title, marker in PARTS:
            log = stack.enter_context(tempfile.TemporaryFile(mode="w+", encoding="utf-8"))
            command = [sys.executable, "-m", "pytest", "-m", marker, *args]
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            pending.append((title, marker, process, log))
        while pending:
            time.sleep(0.2)
            for part in [p for p in pending if p[2].poll() is not None]:
                pending.remove(part)
                title, marker, process, log = part
                log.seek(0)
                print(f"===== {title} (pytest -m '{marker}'), {time.monotonic() - started:.0f} s")
                sys.stdout.write(log.read())
                sys.stdout.flush()
                # 5: this part has no test among those asked for, which is no failure.
                if process.returncode not in (0, 5) and status == 0:
                    status = process.returncode
    return status


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
