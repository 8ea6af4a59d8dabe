"""The real-panel tier: the built Pathfinder plugin (PATHFINDER_DIST) running in the sandbox.

Collected only when PATHFINDER_DIST names a build (tests/conftest.py). One signaling server
and one host-script build per session; one Chromium (pytest-playwright's) with a context per
in-test agent; the CLI agents run as real processes, as a user runs them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.sandbox.realpanel import RealPanel
from bridge.sandbox.server import SandboxServer, SandboxSettings
from tests.servers import our_signaling_server

#: The presenter's sandbox and the attendees' run different Grafana versions, as in the demo.
PRESENTER_VERSION, ATTENDEE_VERSION = "12.0.0", "11.0.0"


@pytest.fixture(scope="session")
def signaling() -> Iterator[str]:
    with our_signaling_server() as url:
        yield url


@pytest.fixture(scope="session")
def real_panel(signaling: str) -> RealPanel:
    """The plugin build and its host script (built once, then taken from the cache)."""
    return RealPanel.prepare(Path(os.environ["PATHFINDER_DIST"]), signaling, "pathfinder")


@pytest.fixture
def real_site(real_panel: RealPanel) -> Iterator[SandboxServer]:
    """A sandbox running the real Pathfinder panel."""
    with SandboxServer(
        SandboxSettings(grafana_version=PRESENTER_VERSION, real_panel=real_panel)
    ) as site:
        yield site


@pytest.fixture
def attendee_site() -> Iterator[SandboxServer]:
    """An attendee's own sandbox (the imitation panel; another Grafana version)."""
    with SandboxServer(SandboxSettings(grafana_version=ATTENDEE_VERSION)) as site:
        yield site
