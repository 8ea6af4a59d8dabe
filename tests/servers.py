"""Real servers for tests and benchmarks: ours and npm `peer` as processes, a static file server."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.conftest import UNIT

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "tests" / "interop" / "node_modules"
PEERJS_BUNDLE = NODE_MODULES / "peerjs" / "dist" / "peerjs.min.js"
PEER_SERVER_BIN = NODE_MODULES / "peer" / "dist" / "bin" / "peerjs.js"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(
    url: str, timeout: float | None = None, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + (15 * UNIT if timeout is None else timeout)
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill after 10 s; close the stderr pipe the caller read."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()


@contextlib.contextmanager
def _process(args: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        wait_http(ready_url, process=process)
        yield process
    finally:
        stop_process(process)


def bridge_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bridge", *args]


@contextlib.contextmanager
def our_signaling_server(port: int | None = None, *extra: str) -> Iterator[str]:
    """`pathfinder-bridge signal` as a user runs it; yields its URL.

    Its state (reservations) lives in a folder of its own, gone afterwards; a `--state-dir`
    in `extra` wins."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/pathfinder"
    with tempfile.TemporaryDirectory(prefix="pfb-signal-") as state:
        command = bridge_command("signal", "--port", str(port), "--state-dir", state, *extra)
        with _process(command, url + "/"):
            yield url


@contextlib.contextmanager
def npm_peer_server(port: int | None = None, *extra: str) -> Iterator[str]:
    """The reference server, npm `peer` 1.0.x, configured as Pathfinder configures it."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/pathfinder"
    args = [
        "node",
        str(PEER_SERVER_BIN),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--path",
        "/pathfinder",
        "--key",
        "pathfinder",
        "--alive_timeout",
        "60000",
        *extra,
    ]
    with _process(args, url + "/"):
        yield url


@contextlib.contextmanager
def coturn(user: str = "workshop:secret") -> Iterator[int]:
    """coturn (Debian's `turnserver`) on 127.0.0.1 with long-term credentials; yields its port."""
    binary = shutil.which("turnserver")
    assert binary, "coturn is not installed: `make install` installs it (apt-get install coturn)"
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--lt-cred-mech",
            f"--user={user}",
            "--realm=pathfinder",
            "--no-tls",
            "--no-dtls",
            "--allow-loopback-peers",
            "--no-cli",
            "--min-port=49160",
            "--max-port=49400",
            "--log-file=stdout",
            "--simple-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    assert process.poll() is None, "turnserver did not start"
    try:
        yield port
    finally:
        stop_process(process)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@contextlib.contextmanager
def static_server(folder: Path, extra: dict[str, Path] | None = None) -> Iterator[str]:
    """Serve `folder` on http://127.0.0.1 (a secure context, same address space as loopback).

    `extra` maps URL names to files outside the folder (the peerjs bundle).
    """
    mapping = {f"/{name}": path for name, path in (extra or {}).items()}

    class Handler(_QuietHandler):
        def translate_path(self, path: str) -> str:
            clean = path.split("?", 1)[0]
            if clean in mapping:
                return os.fspath(mapping[clean])
            return super().translate_path(path)

    handler = functools.partial(Handler, directory=os.fspath(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class CliProcess:
    """`pathfinder-bridge ...` as a subprocess, with its stdout read line by line in a thread."""

    def __init__(
        self,
        *args: str,
        stdin: bool = False,
        env: dict[str, str] | None = None,
        program: list[str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        """`program` replaces `python -m bridge` (an installed `pathfinder-bridge`, say)."""
        import queue

        self.process = subprocess.Popen(
            [*program, *args] if program else bridge_command(*args),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            text=True,
            bufsize=1,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._stderr: list[str] = []
        threading.Thread(
            target=self._pump, args=(self.process.stdout, self.lines), daemon=True
        ).start()
        self._stderr_reader = threading.Thread(target=self._collect_stderr, daemon=True)
        self._stderr_reader.start()

    @staticmethod
    def _pump(stream: Any, sink: Any) -> None:
        for line in stream:
            sink.put(line.rstrip("\n"))
        sink.put(None)

    def _collect_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        """What the process wrote to stderr so far; all of it once the process has exited
        (the reader thread may still be draining the pipe when `wait()` returns)."""
        if self.process.poll() is not None:
            self._stderr_reader.join(5 * UNIT)
        return "".join(self._stderr)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float | None = None) -> str:
        """The first new stdout line that satisfies `predicate`; fails on timeout (default
        20 UNITs) or exit."""
        import queue

        deadline = time.monotonic() + (20 * UNIT if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"no matching line; saw {self.seen[-5:]}; stderr: {self.stderr[-500:]}"
                )
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise EOFError(
                    f"process exited ({self.process.poll()}); saw {self.seen[-5:]}; stderr: {self.stderr[-800:]}"
                )
            self.seen.append(line)
            if predicate(line):
                return line

    def wait_for_stderr(self, text: str, timeout: float | None = None) -> bool:
        """Whether `text` shows up on stderr within `timeout` seconds (default 10 UNITs)."""
        deadline = time.monotonic() + (10 * UNIT if timeout is None else timeout)
        while text not in self.stderr and time.monotonic() < deadline:
            time.sleep(0.05)
        return text in self.stderr

    def write(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self, sig: int = 2, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __enter__(self) -> CliProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- a cluster: Redis, instances of ours, HAProxy (Debian's packages, on free ports) ----------

HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"


class RedisServer:
    """Debian's `redis-server` on 127.0.0.1, no persistence; can be stopped and started again
    on the same port (a Redis restart)."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: `make install` installs it"
        self.binary = binary
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10 * UNIT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "redis-server exited at start"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise TimeoutError("redis-server did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # gone at once, as a crash: nothing saved
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def haproxy(instances: list[int], port: int | None = None) -> Iterator[str]:
    """HAProxy with deploy/haproxy.cfg in front of our instances on these ports; yields the
    signaling URL clients use. Ready once both instances pass their health checks."""
    binary = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None
    )
    assert binary, "haproxy is not installed: `make install` installs it"
    port = port or free_port()
    env = {
        **os.environ,
        "PFB_LISTEN": f"127.0.0.1:{port}",
        "PFB_INSTANCE_1": f"127.0.0.1:{instances[0]}",
        "PFB_INSTANCE_2": f"127.0.0.1:{instances[1]}",
    }
    process = subprocess.Popen(
        [binary, "-db", "-f", str(HAPROXY_CONFIG)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/pathfinder"
    try:
        wait_http(url + "/", process=process)
        yield url
    finally:
        stop_process(process)


#: Timers for cluster tests: fast enough that timeouts and expiry happen within a test.
FAST_TIMERS = {
    "PATHFINDER_BRIDGE_SERVER_CLEANUP_INTERVAL": "0.1",
    # Ids are kept for sockets held for any time: the cluster tests open and close at once.
    "PATHFINDER_BRIDGE_SERVER_LIMITS_RESERVATION_MIN_CONNECTED": "0",
}


def signal_instance(
    port: int, redis_url: str, state_dir: str, *extra: str, env: dict[str, str] | None = None
) -> CliProcess:
    """One instance of a cluster: `pathfinder-bridge signal --redis URL`, started; wait for
    its "Ready for connections" with `.wait_for`."""
    return CliProcess(
        "signal",
        "--port",
        str(port),
        "--state-dir",
        state_dir,
        "--redis",
        redis_url,
        "--instance-name",
        f"instance-{port}",
        "--trusted-proxy",
        "127.0.0.1",
        *extra,
        env={**FAST_TIMERS, **(env or {})},
    )


class ClusterOfTwo:
    """Redis, two instances and HAProxy in front of them."""

    def __init__(self, redis: RedisServer, instances: list[CliProcess], ports: list[int]) -> None:
        self.redis = redis
        self.instances = instances
        self.ports = ports
        self.proxy_url = ""

    @property
    def instance_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/pathfinder" for port in self.ports]


@contextlib.contextmanager
def cluster_of_two(
    *extra: str, proxy: bool = True, env: dict[str, str] | None = None
) -> Iterator[ClusterOfTwo]:
    with RedisServer() as redis, tempfile.TemporaryDirectory(prefix="pfb-cluster-") as state:
        ports = [free_port(), free_port()]
        instances = [signal_instance(port, redis.url, state, *extra, env=env) for port in ports]
        try:
            for instance in instances:
                instance.wait_for(lambda line: line.startswith("Ready for connections"))
            cluster = ClusterOfTwo(redis, instances, ports)
            if proxy:
                with haproxy(ports) as url:
                    cluster.proxy_url = url
                    yield cluster
            else:
                yield cluster
        finally:
            for instance in instances:
                with contextlib.suppress(Exception):
                    instance.stop(timeout=10)
                instance.__exit__()
