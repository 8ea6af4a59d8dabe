"""Who holds a TCP port: read from /proc, so a port conflict names the process, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

_LISTEN = "0A"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def port_holder(port: int) -> tuple[int, str] | None:
    """(pid, command line) of the process listening on `port`, when /proc shows it."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in targets:
                    raw = Path(f"/proc/{entry}/cmdline").read_bytes()
                    return int(entry), raw.replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
    return None


def describe_port_holder(port: int) -> str:
    """' by pid 123 (node peerjs ...)', or '' when the holder cannot be seen."""
    holder = port_holder(port)
    if holder is None:
        return ""
    pid, command = holder
    if len(command) > 80:
        command = command[:77] + "..."
    return f" by pid {pid} ({command})"
