"""A presenter's session on disk: its id, signaling token and signing key.

With `present --session-file PATH`, a presenter that crashes or is restarted comes back as
the same session: same id (the join code still finds it), same token (the signaling server
lets it replace its old registration) and same key (attendees still verify it).
"""

from __future__ import annotations

import json
import os
import secrets
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
        if not path.exists():
            identity = cls.new()
            identity.save(path)
            return identity
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
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
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"id": self.session_id, "token": self.token, "key": self.key.to_pem().decode()}
        # The private key: readable by its owner only, from the first byte written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
