"""SwarmRunner: the worker processes of a swarm, started, read and stopped.

Attendees are spread over processes so every core works (`split_attendees`, sans-I/O); each
worker's reports are parsed at this edge and handed to `on_report`. Stopping closes each
worker's standard input (its attendees leave the session), waits, then terminates and kills
what is left: no worker outlives the swarm, on Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable

from bridge.errors import ProtocolError
from bridge.swarm.reports import Report, parse_report
from bridge.swarm.worker import WorkerSpec

logger = logging.getLogger("bridge.swarm")

#: Seconds a worker gets to let its attendees leave before it is terminated, then killed.
LEAVE_TIMEOUT = 20.0
KILL_TIMEOUT = 5.0


def split_attendees(count: int, browsers: int, processes: int) -> list[list[int]]:
    """Attendee indexes per worker: the browser attendees (0..browsers-1) together in one
    worker (one Chromium, a context each), the others spread evenly over `processes`."""
    groups: list[list[int]] = []
    if browsers:
        groups.append(list(range(browsers)))
    rest = list(range(browsers, count))
    workers = max(1, min(processes, len(rest)))
    for w in range(workers):
        share = rest[w::workers]
        if share:
            groups.append(share)
    return groups


def default_processes(count: int) -> int:
    """One worker per core, and at least one per 100 attendees."""
    return max(os.cpu_count() or 1, -(-count // 100))


class SwarmRunner:
    def __init__(self, specs: list[WorkerSpec], on_report: Callable[[Report], None]) -> None:
        self.specs = specs
        self._on_report = on_report
        self._processes: list[asyncio.subprocess.Process] = []
        self.bad_lines = 0

    async def run(self, duration: float | None = None) -> None:
        """Until every worker is done (each attendee's session ended), `duration` seconds
        have passed, or the caller is cancelled; the workers are stopped either way."""
        readers: list[asyncio.Task[None]] = []
        try:
            for spec in self.specs:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bridge.swarm.worker",
                    spec.to_json(),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                )
                self._processes.append(process)
                reader = asyncio.create_task(self._read(process), name=f"worker-{spec.worker}")
                readers.append(reader)
            everyone = asyncio.gather(*readers)
            try:
                async with asyncio.timeout(duration):
                    await asyncio.shield(everyone)
            except TimeoutError:
                logger.info("[SessionManager] Swarm duration over")
        finally:
            await asyncio.shield(self._stop())
            await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            try:
                report = parse_report(line.decode("utf-8", "replace"))
            except ProtocolError as exc:
                self.bad_lines += 1
                logger.warning("[SessionManager] A swarm worker said something odd: %s", exc)
                continue
            self._on_report(report)

    async def _stop(self) -> None:
        for process in self._processes:
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.close()
        await asyncio.gather(*(self._wait(p) for p in self._processes))

    @staticmethod
    async def _wait(process: asyncio.subprocess.Process) -> None:
        try:
            async with asyncio.timeout(LEAVE_TIMEOUT):
                await process.wait()
                return
        except TimeoutError:
            pass
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            async with asyncio.timeout(KILL_TIMEOUT):
                await process.wait()
                return
        except TimeoutError:
            pass
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
