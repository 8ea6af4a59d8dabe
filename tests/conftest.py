"""Shared fixtures. Timeouts are multiples of UNIT, scaled by PATHFINDER_TEST_TIMEOUT_FACTOR."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.browser.chromium import find_chromium
from bridge.browser.launch import chromium_sandbox, running_as_root
from bridge.config import BrowserConfig, load_config

# Tests press Ctrl-C on the processes they start (SIGINT). A shell without job control starts
# background commands (`make test &`, nohup, some CI runners) with SIGINT ignored, and an ignored
# signal stays ignored across exec: every CLI process would ignore the tests' Ctrl-C, as it
# should for its user. Catching SIGINT here gives the processes the tests start its default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: One second of test patience, scaled for slow machines (as websockets' MS).
UNIT = float(os.environ.get("PATHFINDER_TEST_TIMEOUT_FACTOR", "1"))


@pytest.fixture(scope="session", autouse=True)
def signaling_state_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Servers the tests start keep their reservation files here, not in the user's home."""
    folder = str(tmp_path_factory.mktemp("signaling-state"))
    os.environ.setdefault("PATHFINDER_BRIDGE_SERVER_STATE_DIR", folder)
    return os.environ["PATHFINDER_BRIDGE_SERVER_STATE_DIR"]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Our signaling server (`pathfinder-bridge signal`), one per test module."""
    from tests.servers import our_signaling_server  # tests.servers imports this module

    with our_signaling_server() as url:
        yield url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at Debian's Chromium when it is there."""
    browser = load_config(None, environ=os.environ).browser
    executable = find_chromium(browser)
    args = dict(browser_type_launch_args)
    if executable:
        args["executable_path"] = executable
    args["args"] = [*args.get("args", []), *BrowserConfig().args]
    args["chromium_sandbox"] = chromium_sandbox(args["args"], as_root=running_as_root())
    return args


TESTS = Path(__file__).resolve().parent
#: Tiers that exist only when their environment variable names what they run against: never
#: collected without it, never skipped. tests/grafana: a real Grafana; tests/pathfinder: a
#: checkout of grafana-pathfinder-app, whose own Live Sessions code runs against ours;
#: tests/realpanel: a built Pathfinder plugin, run in the sandbox.
GATED_TIERS = {
    TESTS / "grafana": "GRAFANA_URL",
    TESTS / "pathfinder": "PATHFINDER_SRC",
    TESTS / "realpanel": "PATHFINDER_DIST",
}


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    for tier, variable in GATED_TIERS.items():
        if collection_path.resolve().is_relative_to(tier) and not os.environ.get(variable):
            return True
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the marker set here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use pytest-playwright's sync browser `sync_browser`, and run them last.

    The sync Playwright API leaves its event loop registered as running in the main
    thread for the rest of the session, after which pytest-asyncio (and asyncio.run)
    cannot start a loop. Ordering keeps one pytest run for the whole suite; the marker lets
    `make test` run them in a second pytest process beside the rest (tests/run_suite.py).
    """
    uses_browser = {"browser", "context", "page", "playwright"}

    def key(item: pytest.Item) -> int:
        return 1 if uses_browser & set(getattr(item, "fixturenames", ())) else 0

    for item in items:
        if key(item):
            item.add_marker(pytest.mark.sync_browser)
    items.sort(key=key)
