"""`pathfinder-bridge signal` as a user runs it: foreground banner, background management."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import UNIT
from tests.servers import ROOT, free_port, npm_peer_server


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        timeout=30 * UNIT,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path)
    for pid_file in tmp_path.glob("*.pid"):  # never leave a server behind
        run("signal", "stop", "--port", pid_file.stem.split("-")[1], "--state-dir", str(tmp_path))


def start_foreground(port: int, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`signal` in the foreground; returns it with its banner, read up to "Ready for connections"."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "signal", "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith("Ready for connections"):
            break
    return process, lines


def test_foreground_banner_and_clean_sigterm() -> None:
    port = free_port()
    process, lines = start_foreground(port)
    assert f"  URL:  http://127.0.0.1:{port}/pathfinder" in lines
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/pathfinder/", timeout=5) as response:
        assert response.status == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(10 * UNIT) == 0
    assert process.stderr is not None and "Traceback" not in process.stderr.read()


def test_ctrl_c_exits_cleanly() -> None:
    port = free_port()
    process, _ = start_foreground(port)
    process.send_signal(signal.SIGINT)
    assert process.wait(10 * UNIT) == 0
    assert process.stderr is not None and "Traceback" not in process.stderr.read()


def test_verbose_logs_connect_relay_disconnect() -> None:
    from websockets.sync.client import connect

    port = free_port()
    process, _ = start_foreground(port, "-v")
    base = f"ws://127.0.0.1:{port}/pathfinder/peerjs?key=pathfinder&token=t&id="
    try:
        with connect(base + "alice") as alice, connect(base + "bob") as bob:
            alice.recv(5)
            bob.recv(5)
            alice.send(json.dumps({"type": "OFFER", "dst": "bob", "payload": {}}))
            bob.recv(5)
    finally:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10 * UNIT)
    assert "[Signaling] Peer alice connected from 127.0.0.1" in stderr
    assert "[Signaling] Relay OFFER alice->bob" in stderr
    assert "[Signaling] Peer bob disconnected" in stderr


def test_start_status_restart_stop(state_dir: str) -> None:
    port = str(free_port())
    common = ["--port", port, "--state-dir", state_dir]
    assert run("signal", "status", *common).returncode == 3
    started = run("signal", "start", *common)
    assert started.returncode == 0, started.stderr
    assert "Signaling server started: pid" in started.stdout
    status = run("signal", "status", *common)
    assert status.returncode == 0
    assert "running: pid" in status.stdout and f"port {port}, 0 peers connected" in status.stdout
    again = run("signal", "start", *common)
    assert again.returncode == 1 and "already running" in again.stderr
    first_pid = status.stdout.split("pid ")[1].split(",")[0]
    restarted = run("signal", "restart", *common)
    assert restarted.returncode == 0, restarted.stderr
    assert run("signal", "status", *common).stdout.split("pid ")[1].split(",")[0] != first_pid
    assert run("signal", "stop", *common).stdout.strip() == "Signaling server stopped"
    assert run("signal", "status", *common).returncode == 3
    assert run("signal", "stop", *common).stdout.strip() == "Signaling server was not running"
    log = Path(state_dir) / f"signal-{port}.log"
    assert "Ready for connections" in log.read_text()


def test_stop_never_touches_a_process_it_did_not_start(state_dir: str) -> None:
    with npm_peer_server() as url:
        port = url.split(":")[2].split("/")[0]
        Path(state_dir, f"signal-{port}.pid").write_text(json_pid(os.getpid()))
        stopped = run("signal", "stop", "--port", port, "--state-dir", state_dir)
        assert stopped.stdout.strip() == "Signaling server was not running"
        with urllib.request.urlopen(url + "/", timeout=5) as response:
            assert response.status == 200


def json_pid(pid: int) -> str:
    return json.dumps({"pid": pid, "port": 0})


def test_port_in_use_names_the_holder() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        result = run("signal", "--port", port)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"port {port} is already in use by pid {os.getpid()}" in result.stderr
    assert "--port N" in result.stderr


def test_start_reports_port_in_use(state_dir: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        result = run("signal", "start", "--port", port, "--state-dir", state_dir)
    assert result.returncode == 1
    assert "already in use" in result.stderr and "Traceback" not in result.stderr


def test_bad_config_value_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("server:\n  alive_timeout: soon\n")
    result = run("signal", "--config", str(bad))
    assert result.returncode == 1
    assert "server.alive_timeout: expected a number" in result.stderr
    env = {**os.environ, "PATHFINDER_BRIDGE_SERVER_PORT": "99999"}
    result = run("signal", env=env)
    assert result.returncode == 1 and "server.port:" in result.stderr


def test_status_of_a_cluster_instance_shows_the_realm(state_dir: str) -> None:
    from websockets.sync.client import connect

    from tests.servers import RedisServer, signal_instance

    with RedisServer() as redis:
        port = str(free_port())
        common = ["--port", port, "--state-dir", state_dir, "--redis", redis.url]
        started = run("signal", "start", *common, "--instance-name", "east-1")
        assert started.returncode == 0, started.stderr
        other_port = free_port()
        with signal_instance(other_port, redis.url, state_dir) as other:
            other.wait_for(lambda line: line.startswith("Ready for connections"))
            base = "/pathfinder/peerjs?key=pathfinder&token=t&id="
            with (
                connect(f"ws://127.0.0.1:{other_port}{base}alice") as alice,
                connect(f"ws://127.0.0.1:{port}{base}bob") as bob,
            ):
                alice.recv(5)
                bob.recv(5)
                expected = "Cluster instance east-1: 2 peers in the realm, 2 instances alive"
                for _ in range(50):  # realm-wide figures are read from Redis every second
                    status = run("signal", "status", *common)
                    lines = status.stdout.splitlines()
                    if status.returncode or lines[1:] == [expected]:
                        break
                    time.sleep(0.1)
        assert status.returncode == 0, status.stderr
        assert f"port {port}, 1 peer connected" in lines[0]
        assert lines[1] == expected
        assert run("signal", "stop", *common).returncode == 0


def test_a_cluster_instance_without_redis_says_what_to_do() -> None:
    port = free_port()
    result = run("signal", "--port", str(port), "--redis", f"redis://127.0.0.1:{free_port()}/0")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot reach Redis at redis://127.0.0.1:" in result.stderr
    assert "is redis-server running there?" in result.stderr
