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
class ClusterStatus:
    """What a cluster instance says of itself and its realm (from its /metrics)."""

    instance: str
    realm_peers: int
    instances: int
    redis_up: bool


@dataclass(frozen=True)
class ServiceStatus:
    running: bool
    pid: int | None
    port: int
    url: str
    peers: int | None
    cluster: ClusterStatus | None = None

    def describe(self) -> str:
        if not self.running:
            return f"Signaling server is not running (port {self.port})"
        peers = "unknown" if self.peers is None else str(self.peers)
        text = (
            f"Signaling server is running: pid {self.pid}, port {self.port}, "
            f"{peers} peer{'s' if self.peers != 1 else ''} connected, {self.url}"
        )
        if self.cluster is not None:
            c = self.cluster
            text += (
                f"\nCluster instance {c.instance}: {c.realm_peers} "
                f"peer{'s' if c.realm_peers != 1 else ''} in the realm, "
                f"{c.instances} instance{'s' if c.instances != 1 else ''} alive"
                + ("" if c.redis_up else "; Redis unreachable (relaying between its own peers)")
            )
        return text


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


def _fetch_metrics(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except (OSError, urllib.error.URLError, UnicodeDecodeError):
        return None


def _fetch_peers(url: str) -> int | None:
    body = _fetch_metrics(url)
    return None if body is None else parse_status(body)[0]


def parse_status(body: str) -> tuple[int | None, ClusterStatus | None]:
    """Peers connected here, and the cluster's figures when the server is an instance."""
    values: dict[str, float] = {}
    instance = None
    for line in body.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith("pathfinder_signaling_cluster_instance_info{"):
            instance = name.split('name="', 1)[1].rsplit('"', 1)[0]
            continue
        try:
            values[name] = float(value)
        except ValueError:
            continue
    peers = values.get("pathfinder_signaling_peers")
    cluster = None
    if instance is not None:
        cluster = ClusterStatus(
            instance,
            int(values.get("pathfinder_signaling_cluster_realm_peers", 0)),
            int(values.get("pathfinder_signaling_cluster_instances", 0)),
            values.get("pathfinder_signaling_cluster_redis_up", 0) == 1,
        )
    return (None if peers is None else int(peers)), cluster


def status(config: ServerConfig) -> ServiceStatus:
    files = ServiceFiles.for_port(config)
    pid = _read_pid(files)
    body = _fetch_metrics(config.url) if pid is not None else None
    peers, cluster = parse_status(body) if body is not None else (None, None)
    return ServiceStatus(pid is not None, pid, config.port, config.url, peers, cluster)


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
