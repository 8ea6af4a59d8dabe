"""Which Show me / Do it buttons Pathfinder's panel renders for a guide's steps (sans-I/O).

A presenter walking a sandbox guide presses these in order; the demo's presenter and the tests'
presenters do, on the imitation and on the real panel alike (tests/realpanel/test_imitation.py
keeps the two panels' buttons equal).
"""

from __future__ import annotations

from typing import Any, Literal

ButtonKind = Literal["show-me", "do-it"]


def step_buttons(blocks: list[dict[str, Any]]) -> list[tuple[ButtonKind, str]]:
    """(kind, step id) of every Show me / Do it button of a guide's blocks, in order: a
    navigate step has only Do it ("Go there"), a multistep only Do it ("Run N steps"),
    `doIt: false` no Do it; noop and guided blocks have neither."""
    buttons: list[tuple[ButtonKind, str]] = []
    for block in blocks:
        if block["type"] == "section":
            buttons += step_buttons(block["blocks"])
        elif block["type"] == "interactive" and block["action"] != "noop":
            if block["action"] != "navigate":
                buttons.append(("show-me", str(block["id"])))
            if block.get("doIt", True):
                buttons.append(("do-it", str(block["id"])))
        elif block["type"] == "multistep":
            buttons.append(("do-it", str(block["id"])))
    return buttons
