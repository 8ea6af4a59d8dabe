"""A presenter's session on disk: its id, signaling token and signing key.

With `present --session-file PATH`, a presenter that crashes or is restarted comes back as
the same session: same id (the join code still finds it), same token (the signaling server
lets it replace its old registration) and same key (attendees still verify it).

The file holds a private key, so it is created with O_EXCL|O_NOFOLLOW and mode 0600 (never
through a symbolic link, never over a file someone else planted), and loaded only when it is
a regular file owned by us and unreadable to group and others.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import BridgeError, ProtocolError
from bridge.protocol.crypto import PresenterKey
from bridge.protocol.joincode import new_session_id
from bridge.protocol.peerjs import is_valid_id, is_valid_token


@dataclass(frozen=True)
class PresenterIdentity:
    session_id: str
    token: str
    key: PresenterKey

    @classmethod
    def new(cls) -> PresenterIdentity:
        return cls(new_session_id(), secrets.token_hex(8), PresenterKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> PresenterIdentity:
        if not path.exists() and not path.is_symlink():
            identity = cls.new()
            identity.save(path)
            return identity
        text = _read_private(path)
        try:
            data = json.loads(text)
            identity = cls(
                str(data["id"]),
                str(data["token"]),
                PresenterKey.from_pem(str(data["key"]).encode()),
            )
        except (OSError, ValueError, KeyError, TypeError, ProtocolError) as exc:
            raise BridgeError(
                f"{path} is not a pathfinder-bridge session file ({exc}); "
                "remove it to start a new session"
            ) from None
        if not is_valid_id(identity.session_id) or not is_valid_token(identity.token):
            raise BridgeError(f"{path} holds an invalid session id or token")
        return identity

    def save(self, path: Path) -> None:
        """Write a new session file; never over an existing file or through a symbolic link."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"id": self.session_id, "token": self.token, "key": self.key.to_pem().decode()}
        # The private key: readable by its owner only, from the first byte written.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(path, flags, 0o600)
        except FileExistsError:
            raise BridgeError(
                f"{path} appeared while the session was being created (or is a symbolic link): "
                "refusing to write the session key there; remove it or pick another path"
            ) from None
        except OSError as exc:
            raise BridgeError(f"cannot create the session file {path}: {exc.strerror}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)


def _read_private(path: Path) -> str:
    """The text of a session file that only we can read, or BridgeError saying what is wrong."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BridgeError(
                f"{path} is a symbolic link: a session file must be a regular file; "
                "remove the link, or point --session-file at the file itself"
            ) from None
        raise BridgeError(f"cannot read the session file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BridgeError(f"{path} is not a regular file")
        if info.st_uid != os.getuid():
            raise BridgeError(
                f"{path} belongs to another user (uid {info.st_uid}): a session file holds a "
                "private key, so only a file of your own is used; remove it to start a new session"
            )
        if info.st_mode & 0o077:
            raise BridgeError(
                f"{path} can be read or written by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):o}): it holds the session's private key. Run "
                f"chmod 600 {path} if nobody else could have read it, else remove it"
            )
        return handle.read(1 << 16).decode("utf-8", errors="replace")
