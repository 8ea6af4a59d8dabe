"""The signaling server's files: the state folder and its owner-only pid, log and reservation
files.

Everything is created mode 0600 inside a 0700 folder (when we create the folder), never
through a symlink; a file we read must be a regular file of ours that nobody else can
read or write, or it is refused with the reason.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from bridge.config import ServerConfig
from bridge.errors import BridgeError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


class PrivateFileError(BridgeError):
    """A state file is missing, foreign, readable by others or not a regular file."""


def state_dir(config: ServerConfig) -> Path:
    if config.state_dir:
        return Path(config.state_dir).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pathfinder-bridge"


def reservations_file(config: ServerConfig) -> Path:
    return state_dir(config) / f"signal-{config.port}.reservations.json"


def ensure_private_dir(path: Path) -> None:
    """Create `path` (mode 0700) when missing; its parents get the usual mode."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, PRIVATE_DIR)
    except FileExistsError:
        if not path.is_dir():
            raise
        return
    os.chmod(path, PRIVATE_DIR)  # whatever the umask


def write_private(path: Path, data: str) -> None:
    """Replace `path` atomically with `data`, mode 0600: a fresh temporary file (O_EXCL,
    O_NOFOLLOW) beside it, synced, then renamed over it. A symlink at `path` is replaced,
    never followed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(
        temporary,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        PRIVATE_FILE,
    )
    try:
        os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as stream:
            stream.write(data)
            stream.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def open_private_log(path: Path) -> int:
    """An append-only file descriptor on `path`, created or tightened to mode 0600."""
    fd = os.open(
        path,
        os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
        PRIVATE_FILE,
    )
    try:
        _check_ours(os.fstat(fd), path, allow_shared=True)
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(path: Path, max_bytes: int) -> str | None:
    """The text of `path`, or None when it does not exist. Raises PrivateFileError when it
    is a symlink, not a regular file, not ours, readable or writable by others, too large,
    or not UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PrivateFileError("it is a symbolic link") from None
        raise PrivateFileError(f"cannot open it: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        _check_ours(info, path, allow_shared=False)
        if info.st_size > max_bytes:
            raise PrivateFileError(f"larger than {max_bytes} bytes")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise PrivateFileError(f"larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PrivateFileError("not UTF-8 text") from None


def _check_ours(info: os.stat_result, path: Path, *, allow_shared: bool) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise PrivateFileError("not a regular file")
    if info.st_uid != os.getuid():
        raise PrivateFileError(f"owned by uid {info.st_uid}, not by us (uid {os.getuid()})")
    if not allow_shared and info.st_mode & 0o077:
        raise PrivateFileError(
            f"mode {stat.S_IMODE(info.st_mode):04o}: others may read or change it (want 0600)"
        )
