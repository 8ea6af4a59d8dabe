"""Screenshots of an attendee's Grafana for the session report, downscaled by Chromium itself.

One DevTools `Page.captureScreenshot` with a scaled clip: Chromium renders the viewport at
`width` pixels and encodes a JPEG (about 6 KB for the sandbox at 640 px, ~40 ms), so nothing
in Python decodes or resizes images. Callers take them after the replay result is sent, so
the presenter never waits for a picture.
"""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

logger = logging.getLogger("bridge.browser")

WIDTH = 640
QUALITY = 70


class Snapshots:
    """Numbered JPEG screenshots of one page into one folder."""

    def __init__(self, page: Page, folder: Path, prefix: str, *, width: int = WIDTH) -> None:
        self.page = page
        self.folder = folder
        self.prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", prefix)[:40] or "attendee"
        self.width = width
        self.taken = 0
        self._cdp: CDPSession | None = None

    async def take(self, label: str) -> Path | None:
        """Save a screenshot now; returns its path (None when the page cannot be shot: a
        report without one picture beats a replay that fails)."""
        name = f"{self.prefix}-{self.taken + 1:03d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', label)[:40]}"
        try:
            if self._cdp is None:
                self._cdp = await self.page.context.new_cdp_session(self.page)
            size = self.page.viewport_size or {"width": 1280, "height": 800}
            shot = await self._cdp.send(
                "Page.captureScreenshot",
                {
                    "format": "jpeg",
                    "quality": QUALITY,
                    "clip": {
                        "x": 0,
                        "y": 0,
                        "width": size["width"],
                        "height": size["height"],
                        "scale": min(1.0, self.width / size["width"]),
                    },
                },
            )
        except PlaywrightError as exc:
            logger.warning("[ActionReplay] No screenshot for the report: %s", str(exc)[:200])
            self._cdp = None
            return None
        path = self.folder / f"{name}.jpg"
        path.write_bytes(base64.b64decode(shot["data"]))
        self.taken += 1
        return path
