"""Peer text on a terminal: every control character escaped, ordinary text untouched."""

from __future__ import annotations

import logging

from bridge.logs import PrintableFormatter
from bridge.printable import printable, printable_lines

ATTACKS = {
    "window title": "\x1b]0;pwned\x07",
    "screen clear": "\x1b[2J\x1b[H",
    "OSC 52 clipboard write": "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",
    "fake joined line": "Ada\r\n+ Mallory joined (follow mode)",
    "C1 CSI": "\x9b31m",
    "bidi override": "\u202eevil\u202c",
    "line separator": "a\u2028b",
    "NUL and DEL": "a\x00b\x7f",
}


def test_every_control_character_is_escaped_visibly() -> None:
    for name, text in ATTACKS.items():
        shown = printable(text)
        assert all(ch.isprintable() for ch in shown), name
        assert "\\x" in shown or "\\u" in shown, name
    assert printable("\x1b[2J") == "\\x1b[2J"
    assert printable("a\nb") == "a\\x0ab"


def test_ordinary_text_is_unchanged() -> None:
    for text in ("Ada Lovelace", "Zoë Ølsen", "李雷", "👩‍💻 dev", "step: a[href='/x']"):
        assert printable(text) == text


def test_long_text_is_cut() -> None:
    assert printable("x" * 1000, 10) == "x" * 10 + "…"
    assert len(printable("\x1b" * 1000, 20)) == 21


def test_our_own_lines_keep_their_newlines_only() -> None:
    assert printable_lines("table\n  row \x1b[2J") == "table\n  row \\x1b[2J"


def test_log_lines_cannot_carry_escapes_or_forged_lines() -> None:
    record = logging.LogRecord(
        "bridge.session",
        logging.INFO,
        __file__,
        1,
        "Attendee joined: %s",
        ("x\x1b]0;t\x07\ny",),
        None,
    )
    line = PrintableFormatter("%(message)s").format(record)
    assert line == "Attendee joined: x\\x1b]0;t\\x07\\x0ay"
