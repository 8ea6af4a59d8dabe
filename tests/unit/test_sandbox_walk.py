"""Which Show me / Do it buttons a guide's steps offer (bridge/sandbox/walk.py)."""

from __future__ import annotations

import json

from bridge.sandbox.server import GUIDES
from bridge.sandbox.walk import step_buttons


def test_every_kind_of_block() -> None:
    blocks = [
        {"type": "markdown", "content": "x"},
        {"type": "interactive", "id": "a", "action": "button", "reftarget": "Save"},
        {"type": "interactive", "id": "b", "action": "navigate", "reftarget": "/x"},
        {"type": "interactive", "id": "c", "action": "highlight", "reftarget": "#c", "doIt": False},
        {"type": "interactive", "id": "d", "action": "noop", "reftarget": ""},
        {"type": "section", "id": "s", "blocks": [
            {"type": "interactive", "id": "e", "action": "formfill", "reftarget": "#e"},
        ]},
        {"type": "multistep", "id": "f", "steps": [{"action": "button", "reftarget": "Go"}]},
        {"type": "guided", "id": "g", "steps": [{"action": "highlight", "reftarget": "#g"}]},
    ]  # fmt: skip
    assert step_buttons(blocks) == [
        ("show-me", "a"), ("do-it", "a"), ("do-it", "b"), ("show-me", "c"),
        ("show-me", "e"), ("do-it", "e"), ("do-it", "f"),
    ]  # fmt: skip


def test_the_sandbox_guides_have_buttons() -> None:
    guide = json.loads(GUIDES.joinpath("connect-datasource.json").read_text(encoding="utf-8"))
    assert step_buttons(guide["blocks"]) == [
        ("do-it", "go-new-datasource"), ("show-me", "prometheus-card"), ("show-me", "tempo-card"),
        ("do-it", "add-prometheus"), ("show-me", "check-status"),
    ]  # fmt: skip
