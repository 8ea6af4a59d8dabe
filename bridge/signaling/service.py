"""Run the signaling server in the background: start, stop, status, restart.

Like Pathfinder's helper script, but `stop` only ever stops the process this tool
started (its pid file), never whatever else happens to hold the port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bridge.config import ServerConfig
from bridge.errors import BridgeError, ServiceError
from bridge.signaling.files import ensure_private_dir, open_private_log, state_dir, write_private

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class ServiceFiles:
    pid: Path
    log: Path

    @classmethod
    def for_port(cls, config: ServerConfig) -> ServiceFiles:
        folder = state_dir(config)
        return cls(folder / f"signal-{config.port}.pid", folder / f"signal-{config.port}.log")


@dataclass(frozen=True)
class ServiceStatus:
    running: bool
    pid: int | None
    port: int
    url: str
    peers: int | None

    def describe(self) -> str:
        if not self.running:
            return f"Signaling server is not running (port {self.port})"
        peers = "unknown" if self.peers is None else str(self.peers)
        return (
            f"Signaling server is running: pid {self.pid}, port {self.port}, "
            f"{peers} peer{'s' if self.peers != 1 else ''} connected, {self.url}"
        )


def _read_pid(files: ServiceFiles) -> int | None:
    try:
        record = json.loads(files.pid.read_text())
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if _is_our_server(pid) else None


def _is_our_server(pid: int) -> bool:
    """Alive and still our command line: a recycled pid is never signalled."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    text = b" ".join(cmdline)
    return b"bridge" in text and b"signal" in text


def _fetch_peers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=2) as response:
            body = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    for line in body.splitlines():
        if line.startswith("pathfinder_signaling_peers "):
            return int(float(line.split()[1]))
    return None


def status(config: ServerConfig) -> ServiceStatus:
    files = ServiceFiles.for_port(config)
    pid = _read_pid(files)
    running = pid is not None
    return ServiceStatus(
        running, pid, config.port, config.url, _fetch_peers(config.url) if running else None
    )


def start(config: ServerConfig, server_args: list[str]) -> ServiceStatus:
    """Start `pathfinder-bridge signal <server_args>` detached; wait until it answers."""
    files = ServiceFiles.for_port(config)
    current = status(config)
    if current.running:
        raise ServiceError(f"already running: pid {current.pid} on port {config.port}")
    # The log holds peer ids and addresses, the pid file decides what `stop` signals:
    # neither is anybody else's business.
    try:
        ensure_private_dir(files.pid.parent)
        log = open_private_log(files.log)
    except (OSError, BridgeError) as exc:
        raise ServiceError(f"cannot use {files.log}: {exc}") from None
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "signal", *server_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        os.close(log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = files.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise ServiceError("the server did not start: " + " / ".join(tail))
        if _fetch_peers(config.url) is not None:
            write_private(files.pid, json.dumps({"pid": process.pid, "port": config.port}))
            return ServiceStatus(True, process.pid, config.port, config.url, 0)
        time.sleep(0.1)
    process.terminate()
    raise ServiceError(f"the server did not answer within {START_TIMEOUT:.0f} s; see {files.log}")


def stop(config: ServerConfig) -> bool:
    """Stop the server this tool started on config.port; False when none was running."""
    files = ServiceFiles.for_port(config)
    pid = _read_pid(files)
    if pid is None:
        files.pid.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _is_our_server(pid):
        time.sleep(0.05)
    if _is_our_server(pid):
        os.kill(pid, signal.SIGKILL)
    files.pid.unlink(missing_ok=True)
    return True
