"""Text from peers made safe to show on a terminal or in a log.

Attendee names, chat, status details and the presenter's event fields are written by someone
else. Shown raw, an ESC or C1 byte drives the terminal (window title, screen clear, an OSC 52
clipboard write) and a newline or carriage return forges a whole line ("+ Ada joined").
`printable()` escapes every such character as visible text (`\\x1b`), so nothing in a
peer's text can act on the terminal and an attempt stays visible.
"""

from __future__ import annotations

import unicodedata

#: Unicode format characters that reorder or hide text (bidi overrides and isolates, marks).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: Categories escaped: controls (C0, DEL, C1), line and paragraph separators, surrogates.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, limit: int = 300) -> str:
    """`text` with every control character escaped, cut to `limit` characters (with an ellipsis)."""
    out: list[str] = []
    size = 0
    for char in text:
        if char in _BIDI_CONTROLS or unicodedata.category(char) in _ESCAPED_CATEGORIES:
            char = _escape(char)
        out.append(char)
        size += len(char)
        if size > limit:
            return "".join(out)[:limit] + "…"
    return "".join(out)


def printable_lines(text: str, limit: int = 4000) -> str:
    """Our own multi-line output: newlines kept, every other control character escaped."""
    return "\n".join(printable(line, limit) for line in text.split("\n"))
