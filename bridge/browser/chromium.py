"""Which Chromium to launch: configured path, then Debian's, then Playwright's own download."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.config import BrowserConfig
from bridge.errors import ConfigError

DEBIAN_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


def find_chromium(config: BrowserConfig) -> str | None:
    """The executable to pass to Playwright, or None to let Playwright use its own browser.

    Raises ConfigError when a path was configured but is not an executable file.
    """
    if config.executable_path:
        path = Path(config.executable_path).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(
                f"browser.executable_path: {path} is not an executable file "
                "(install Debian's chromium, or point this at a Chromium binary)"
            )
        return str(path)
    for candidate in DEBIAN_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None
