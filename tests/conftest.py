"""Shared fixtures. Timeouts are multiples of UNIT, scaled by PATHFINDER_TEST_TIMEOUT_FACTOR."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bridge.browser.chromium import find_chromium
from bridge.config import BrowserConfig, load_config

#: One second of test patience, scaled for slow machines (as websockets' MS).
UNIT = float(os.environ.get("PATHFINDER_TEST_TIMEOUT_FACTOR", "1"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at Debian's Chromium when it is there."""
    browser = load_config(None, environ=os.environ).browser
    executable = find_chromium(browser)
    args = dict(browser_type_launch_args)
    if executable:
        args["executable_path"] = executable
    args["args"] = [*args.get("args", []), *BrowserConfig().args]
    return args
