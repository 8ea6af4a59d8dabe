"""Recordings on disk. `RecordingWriter` writes the header, then one flushed line per record,
so a presenter that dies mid-session leaves every record written so far (at worst a truncated
last line, which `parse_recording` names); `read_recording` reads and checks a whole file."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bridge.errors import BridgeError
from bridge.recording.format import (
    Header,
    Record,
    Recording,
    RecordingError,
    parse_recording,
    serialize,
)


def now_ms() -> int:
    return int(time.time() * 1000)


class RecordingWriter:
    def __init__(self, path: Path, header: Header, *, clock: Callable[[], int] = now_ms) -> None:
        self.path = path
        self.header = header
        self._clock = clock
        self._file: TextIO | None = None

    def open(self) -> RecordingWriter:
        try:
            self._file = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise BridgeError(f"cannot write the recording {self.path}: {exc.strerror}") from None
        self._write_line(serialize(self.header))
        return self

    @property
    def t(self) -> int:
        """Milliseconds since the header's start: the `t` of a record made now."""
        return max(0, self._clock() - self.header.started_ms)

    def write(self, record: Record) -> None:
        if self._file is not None:
            self._write_line(serialize(record))

    def _write_line(self, line: str) -> None:
        assert self._file is not None
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RecordingWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_recording(path: Path) -> Recording:
    """The recording at `path`, checked whole; errors name the file and the line."""
    try:
        with path.open(encoding="utf-8", newline="") as file:
            return parse_recording(file)
    except OSError as exc:
        raise BridgeError(f"cannot read the recording {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BridgeError(f"{path}: not a recording (not UTF-8 text)") from None
    except RecordingError as exc:
        raise RecordingError(f"{path}: {exc}") from None
