"""Logging setup: a short human status by default, component-prefixed logs with -v.

Components prefix their own messages (`[Signaling]`, `[SessionManager]`,
`[ActionCapture]`, `[ActionReplay]`) as Pathfinder does, so a line reads the same here
as in the browser console. Messages often quote a peer's text (a name, a reason), so every
control character in them is escaped before the line is written.
"""

from __future__ import annotations

import logging
import sys

from bridge.printable import printable


class PrintableFormatter(logging.Formatter):
    """A formatter whose message part cannot carry terminal escapes or forged lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message, 2000)
        return super().formatMessage(record)


def setup_logging(verbosity: int) -> None:
    """0: warnings only; 1 (-v): our debug lines; 2 (-vv): libraries too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s.%(msecs)03d %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("bridge").setLevel(logging.DEBUG if verbosity >= 1 else logging.WARNING)
    for noisy in ("websockets", "aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)
