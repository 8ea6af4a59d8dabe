"""Join codes and join URLs, exactly as Pathfinder makes and reads them.

A code is standard base64 (with padding) of compact JSON `{"id","name","url","pubkey"}`;
readers also accept `tutorialUrl` / `sessionPublicKey`, a whole join URL, and the legacy
bare 6-character peer id (parsed, as upstream; it has no key, so attendees refuse to join
with it). Pathfinder 2.16 (join-code-utils.ts) writes `btoa(JSON.stringify(..))` and reads
`JSON.parse(atob(code))`: the JSON's bytes are Latin-1 both ways, so we read them as Latin-1
and write pure-ASCII JSON (other characters escaped), which reads back alike there. Our
presenter adds `"proof": "bound-v1"` (its attendees then ask for the proof bound to their
connection, `proof.py`); Pathfinder's `parseJoinCode` ignores it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import secrets
import string
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from bridge.errors import BridgeError, ProtocolError
from bridge.protocol.webbase64 import atob

PLUGIN_PATH = "/a/grafana-grafanadocsplugin-app"
_ALPHABET = string.ascii_lowercase + string.digits
_LEGACY = re.compile(r"[a-z0-9]{6}")
MAX_CODE_LENGTH = 8192


class JoinCodeError(BridgeError):
    """A join code that cannot be read; the message says what to do."""


def new_session_id() -> str:
    """A presenter peer id: 6 random characters from a-z0-9, as Pathfinder makes them."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(6))


@dataclass(frozen=True)
class JoinCode:
    id: str
    name: str = ""
    url: str = ""
    pubkey: str = ""
    #: Our extension: the form of presenter proof to ask for ('' is upstream's plain proof).
    proof: str = ""

    @property
    def is_legacy(self) -> bool:
        """A bare id carries no key: the presenter cannot be verified."""
        return not self.pubkey

    def encode(self) -> str:
        fields = {"id": self.id, "name": self.name, "url": self.url, "pubkey": self.pubkey}
        if self.proof:
            fields["proof"] = self.proof
        text = json.dumps(fields, separators=(",", ":"), ensure_ascii=True)
        return base64.b64encode(text.encode("ascii")).decode("ascii")

    def join_url(self, grafana_url: str) -> str:
        return f"{grafana_url.rstrip('/')}{PLUGIN_PATH}?session={quote(self.encode(), safe='')}"

    @classmethod
    def parse(cls, text: str) -> JoinCode:
        """A join code, or a join URL: its `session` parameter, and as Pathfinder's
        parseSessionFromUrl, its `sessionName` and `tutorialUrl` parameters when not empty."""
        code = text.strip()
        if not code:
            raise JoinCodeError("the join code is empty: paste the code the presenter shared")
        if len(code) > MAX_CODE_LENGTH:
            raise JoinCodeError("the join code is too long to be a Pathfinder join code")
        if not ("session=" in code or code.startswith(("http://", "https://"))):
            return cls._parse_code(code)
        query = parse_qs(urlsplit(code).query)
        values = query.get("session")
        if not values:
            raise JoinCodeError("the join URL has no session parameter")
        parsed = cls._parse_code(values[0].strip())
        name, url = (
            query.get("sessionName", [parsed.name])[0],
            query.get("tutorialUrl", [parsed.url])[0],
        )
        if len(name) > 2048 or len(url) > 2048:
            raise JoinCodeError("the join URL's sessionName or tutorialUrl is too long")
        return dataclasses.replace(parsed, name=name, url=url)

    @classmethod
    def _parse_code(cls, code: str) -> JoinCode:
        if _LEGACY.fullmatch(code.lower()):
            return cls(id=code.lower())
        try:
            data = json.loads(atob(code).decode("latin-1"))
        except (ProtocolError, ValueError):
            raise JoinCodeError(
                "this is not a Pathfinder join code (expected the base64 code or the join URL "
                "the presenter shared, or a 6-character session id); check it was copied whole"
            ) from None
        if not isinstance(data, dict):
            raise JoinCodeError("the join code does not hold a session description")
        peer_id = data.get("id")
        if not isinstance(peer_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", peer_id):
            raise JoinCodeError("the join code has no valid session id")
        # As upstream: the compact key unless it is empty, then the long one.
        url = data.get("url") or data.get("tutorialUrl") or ""
        pubkey = data.get("pubkey") or data.get("sessionPublicKey") or ""
        name = data.get("name") or ""
        proof = data.get("proof") or ""
        for key, value in (("name", name), ("url", url), ("pubkey", pubkey), ("proof", proof)):
            if not isinstance(value, str) or len(value) > 2048:
                raise JoinCodeError(f"the join code's {key} is not valid")
        return cls(peer_id, str(name), str(url), str(pubkey), str(proof)[:32])
