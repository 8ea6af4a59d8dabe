"""Pathfinder's own SessionManagers in a Chromium page, seen from Python.

`UpstreamPage` wraps a page that loaded the bundle and tests/pathfinder/pages/harness.js; it
makes presenters (`createSession`) and attendees (`parseJoinCode` + `joinSession`) and hands
back small handles. A page may hold any number of them (a swarm of attendees is many handles
on one or a few pages). Every wait is `wait_for_function` with a timeout in UNITs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.conftest import UNIT


def peerjs_config(signaling_url: str) -> dict[str, Any]:
    """Upstream's PeerJSConfig {host, port, key, secure} for http://HOST:PORT/pathfinder
    (upstream always uses the path /pathfinder)."""
    authority = signaling_url.split("//", 1)[1].split("/", 1)[0]
    host, port = authority.rsplit(":", 1)
    return {"host": host, "port": int(port), "key": "pathfinder", "secure": False}


@dataclass
class UpstreamSession:
    """One upstream SessionManager in the page, and what its callbacks recorded."""

    page: Page
    index: int

    def read(self, expression: str) -> Any:
        """`expression` is a JavaScript function of the recorder `s` (events, errors,
        attendees, handRaises, manager)."""
        return self.page.evaluate(
            f"(i) => ({expression})(harness.sessions[i])",
            self.index,
        )

    def wait(self, predicate: str, timeout: float = 15 * UNIT) -> Any:
        """Wait until the JavaScript function `predicate` of the recorder is truthy."""
        handle = self.page.wait_for_function(
            f"(i) => ({predicate})(harness.sessions[i])", arg=self.index, timeout=timeout * 1000
        )
        return handle.json_value()

    def events(self, *types: str) -> list[dict[str, Any]]:
        """Events its onEvent handlers received, in order (only `types` when given)."""
        events: list[dict[str, Any]] = self.read("s => s.events")
        return [e for e in events if not types or e["type"] in types]

    def wait_events(self, count: int, *types: str, timeout: float = 15 * UNIT) -> list[Any]:
        wanted = json.dumps(types)
        self.wait(
            f"s => s.events.filter(e => !{wanted}.length || {wanted}.includes(e.type)).length >= {count}",
            timeout,
        )
        return self.events(*types)

    @property
    def errors(self) -> list[dict[str, str]]:
        errors: list[dict[str, str]] = self.read("s => s.errors")
        return errors

    def end(self) -> None:
        """Upstream's endSession(): an attendee sends attendee_leave, a presenter session_end."""
        self.read("s => { s.manager.endSession(); }")


@dataclass
class UpstreamPresenter(UpstreamSession):
    session_id: str = ""
    join_code: str = ""
    join_url: str = ""

    def broadcast(self, event: dict[str, Any]) -> None:
        """broadcastToAttendees(event), with the base fields upstream's callers put on events."""
        self.page.evaluate(
            """([i, event]) => harness.manager(i).broadcastToAttendees(
                   {sessionId: harness.sessions[i].manager.sessionId, timestamp: Date.now(),
                    senderId: 'presenter', ...event})""",
            [self.index, event],
        )

    def attendees(self) -> list[dict[str, Any]]:
        """getAttendees(): id, name, mode, connectionState, connectionQuality, joinedAt."""
        attendees: list[dict[str, Any]] = self.read("s => s.manager.getAttendees()")
        return attendees

    def capture_clicks(self) -> None:
        """Start upstream's ActionCaptureSystem in this page: its Show me / Do it clicks are
        broadcast as Pathfinder broadcasts them."""
        self.page.evaluate("([i, id]) => harness.capture(i, id)", [self.index, self.session_id])


@dataclass
class UpstreamAttendee(UpstreamSession):
    def send(self, event: dict[str, Any]) -> None:
        """sendToPresenter(event), as Pathfinder's UI sends mode changes and raised hands."""
        self.page.evaluate(
            "([i, event]) => harness.manager(i).sendToPresenter(event)", [self.index, event]
        )


class UpstreamPage:
    """A page running Pathfinder's Live Sessions code; makes upstream presenters and attendees."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    def inject(cls, page: Page, scripts: list[Path]) -> UpstreamPage:
        """Load the bundle and the harness into a page of another site (a sandbox, as a
        presenter's Grafana with Pathfinder in it)."""
        for script in scripts:
            page.add_script_tag(path=script)
        page.wait_for_function("() => window.pathfinder && window.harness")
        return cls(page)

    def present(self, signaling_url: str, name: str, tutorial_url: str) -> UpstreamPresenter:
        config = {"name": name, "tutorialUrl": tutorial_url, "defaultMode": "guided"}
        info = self.page.evaluate(
            "([server, config]) => harness.present(server, config)",
            [peerjs_config(signaling_url), config],
        )
        return UpstreamPresenter(
            self.page, info["index"], info["sessionId"], info["joinCode"], info["joinUrl"]
        )

    def attend(
        self, signaling_url: str, code: str, name: str, mode: str = "guided"
    ) -> UpstreamAttendee:
        """Join by code; raises playwright's Error with upstream's reason when refused."""
        index = self.page.evaluate(
            "([server, code, name, mode]) => harness.attend(server, code, name, mode)",
            [peerjs_config(signaling_url), code, name, mode],
        )
        return UpstreamAttendee(self.page, index)

    def call(self, expression: str, *args: Any) -> Any:
        """Evaluate `expression`, a function of (pathfinder, ...args), on upstream's exports."""
        return self.page.evaluate(
            f"(args) => ({expression})(window.pathfinder, ...args)", list(args)
        )
