"""Writing a session report: DIR/index.html beside the screenshots already in DIR/shots/."""

from __future__ import annotations

from pathlib import Path

from bridge.errors import BridgeError
from bridge.report.html import render_report
from bridge.report.model import SessionReport

SHOTS = "shots"


def prepare_report_folder(folder: Path) -> Path:
    """Create DIR and DIR/shots (before the session, so a bad path fails early)."""
    try:
        (folder / SHOTS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BridgeError(f"cannot write the report to {folder}: {exc.strerror}") from None
    return folder


def write_report(report: SessionReport, folder: Path) -> Path:
    """Write DIR/index.html; returns its path."""
    prepare_report_folder(folder)
    page = folder / "index.html"
    try:
        page.write_text(render_report(report), encoding="utf-8")
    except OSError as exc:
        raise BridgeError(f"cannot write the report to {folder}: {exc.strerror}") from None
    return page.resolve()
