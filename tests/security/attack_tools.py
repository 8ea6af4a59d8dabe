"""What the session and transport attacks are mounted with: a hostile peer's raw data
connections, a TCP proxy that can cut a presenter off its signaling server, and readings of a
victim process's open files and memory from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridge.transport.dataconnection import ConnectionClosedError, DataConnection
from bridge.transport.endpoint import SignalingEndpoint
from bridge.transport.peer import Peer
from tests.conftest import UNIT


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process now (VmRSS), or its peak so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def endpoint(url: str) -> SignalingEndpoint:
    return SignalingEndpoint.parse(url, "pathfinder")


def hostile_peer(url: str, peer_id: str | None = None) -> Peer:
    """A peer of our own transport, used by hand: it speaks PeerJS correctly and then sends
    whatever it likes on its data connections."""
    return Peer(endpoint(url), peer_id, connect_timeout=10 * UNIT)


async def receive_type(connection: DataConnection, kind: str, seconds: float) -> Any:
    """The next message of type `kind` (others are skipped), or None when none comes within
    `seconds` or the connection closes."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await connection.recv()
                if isinstance(message, dict) and message.get("type") == kind:
                    return message
    except (TimeoutError, ConnectionClosedError):
        return None


class TcpProxy:
    """A loopback TCP relay to `target_port` that can be cut (every connection closed, new ones
    refused) and restored, as a network partition between a presenter and its server."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self._cut = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str = "/pathfinder") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stopped.set()
        self.cut()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            self.accepted += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def tcp_proxy(target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
