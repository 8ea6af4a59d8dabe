"""Issue 9.9: Chromium's sandbox. --no-sandbox was in every user's default browser args (and
Playwright adds it unless told otherwise), so attendee renderers ran with seccomp off.

The decision is unit-tested; then Chromium is launched through our own launcher as an
ordinary user and as root, and each renderer's seccomp mode is read from /proc.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bridge.browser.launch import NO_SANDBOX, chromium_sandbox, running_as_root
from bridge.config import BrowserConfig, load_config
from tests.conftest import UNIT
from tests.servers import ROOT

NOBODY = 65534
# Launches Chromium with our launcher and prints {renderer pid: seccomp mode} (2: filtering).
PROBE = """
import asyncio, json
from playwright.async_api import async_playwright
from bridge.browser.launch import launch_chromium
from bridge.config import BrowserConfig

async def main():
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright, BrowserConfig(), headless=True)
        page = await browser.new_page()
        await page.set_content("<p>renderer</p>")
        cdp = await browser.new_browser_cdp_session()
        processes = (await cdp.send("SystemInfo.getProcessInfo"))["processInfo"]
        modes = {}
        for process in processes:
            if process["type"] == "renderer":
                with open(f"/proc/{process['id']}/status") as status:
                    line = next(l for l in status if l.startswith("Seccomp:"))
                modes[process["id"]] = int(line.split()[1])
        await browser.close()
    print(json.dumps(modes))

asyncio.run(main())
"""


def test_the_sandbox_is_turned_off_only_for_root() -> None:
    defaults = BrowserConfig().args
    assert NO_SANDBOX not in defaults
    assert NO_SANDBOX not in load_config(ROOT / "config.yaml", environ={}).browser.args
    assert chromium_sandbox(defaults, as_root=False) is True
    assert chromium_sandbox(defaults, as_root=True) is False
    # Where namespaces are missing, a user may still ask for it explicitly.
    assert chromium_sandbox((*defaults, NO_SANDBOX), as_root=False) is False


def renderer_seccomp(as_user: int | None, home: Path) -> set[int]:
    command = [sys.executable, "-c", PROBE]
    if as_user is not None:
        command = [
            "setpriv",
            f"--reuid={as_user}",
            f"--regid={as_user}",
            "--clear-groups",
            *command,
        ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60 * UNIT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modes = json.loads(done.stdout.strip().splitlines()[-1])
    assert modes, "no renderer found"
    return set(modes.values())


def test_renderers_run_under_seccomp_unless_root(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    if running_as_root():
        # Chromium cannot run sandboxed as root: the one case without it.
        assert renderer_seccomp(None, tmp_path) == {0}
        assert renderer_seccomp(NOBODY, tmp_path) == {2}
    else:
        assert renderer_seccomp(None, tmp_path) == {2}
