"""The saved-login file on disk: read with a size limit, written readable by its owner only.

It holds a Grafana session cookie, a secret as good as a password: it is written to a
temporary file created with mode 0600 and renamed over FILE, so no other user can read it at
any moment, and an existing FILE with a wider mode is replaced rather than reused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from bridge.grafana.login import MAX_STATE_BYTES, LoginError, StorageState

MODE = 0o600

logger = logging.getLogger("bridge.grafana")


def read_saved_login(path: Path) -> StorageState:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_STATE_BYTES + 1)
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
    except OSError as exc:
        raise LoginError(
            f"cannot read the saved login {path}: {exc.strerror}; "
            "save one with `pathfinder-bridge login --grafana URL --save FILE`"
        ) from None
    if mode & 0o077:
        logger.warning(
            "%s holds a Grafana login and other users may read it (mode %o): chmod 600 %s",
            path,
            mode,
            path,
        )
    return StorageState.from_json(data, str(path))


def write_saved_login(path: Path, state: StorageState) -> None:
    path = path.expanduser()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()  # left by a run that died here
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), MODE)  # whatever the umask
            handle.write(state.to_json())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise LoginError(f"cannot save the login to {path}: {exc.strerror}") from None
