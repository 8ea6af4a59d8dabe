"""The tier that runs Pathfinder's own Live Sessions code against ours.

Collected only when PATHFINDER_SRC names a grafana-pathfinder-app checkout (tests/conftest.py);
`make test-pathfinder` runs it alone. Upstream's modules are bundled at test time (bundle.py)
and served with our harness from a real http://127.0.0.1 server: a secure context for
WebCrypto, in the same address space as the signaling servers.

Fixtures for other tests of this tier:
- `pathfinder_checkout`: the checkout (a Path); `build_bundle(spec, checkout)` for more bundles.
- `upstream_origin`: the origin serving index.html (bundle + harness), offline-ice.js,
  harness.js and pathfinder.js.
- `upstream`: an `UpstreamPage` on a fresh page of that origin (pytest-playwright's `page`);
  `upstream_scripts` + `UpstreamPage.inject(page, scripts)` put the same into any page.
- `signaling_url`: our server and npm `peer` (module-scoped, parametrized);
  `our_server`: ours only, for flows whose server does not matter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.conftest import UNIT
from tests.pathfinder.bundle import LIVE_SESSIONS, CheckoutError, build_bundle, checkout_from
from tests.pathfinder.upstream import UpstreamPage
from tests.servers import npm_peer_server, our_signaling_server, static_server

PAGES = Path(__file__).parent / "pages"


@pytest.fixture(scope="session")
def pathfinder_checkout() -> Path:
    try:
        return checkout_from(os.environ.get("PATHFINDER_SRC", ""))
    except CheckoutError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def live_sessions_bundle(pathfinder_checkout: Path) -> Path:
    return build_bundle(LIVE_SESSIONS, pathfinder_checkout)


@pytest.fixture(scope="session")
def upstream_origin(live_sessions_bundle: Path) -> Iterator[str]:
    with static_server(PAGES, {"pathfinder.js": live_sessions_bundle}) as origin:
        yield origin


@pytest.fixture(scope="session")
def upstream_scripts(live_sessions_bundle: Path) -> list[Path]:
    """What index.html loads, in order, for `UpstreamPage.inject` into other sites' pages."""
    return [PAGES / "offline-ice.js", live_sessions_bundle, PAGES / "harness.js"]


@pytest.fixture
def upstream(page: Page, upstream_origin: str) -> UpstreamPage:
    page.set_default_timeout(15_000 * UNIT)
    page.goto(f"{upstream_origin}/index.html")
    page.wait_for_function("() => window.pathfinder && window.harness")
    return UpstreamPage(page)


@pytest.fixture(scope="module", params=["ours", "npm-peer"])
def signaling_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Flows that are cheap to repeat run against our server and the reference npm `peer`."""
    start = our_signaling_server if request.param == "ours" else npm_peer_server
    with start() as url:
        yield url


@pytest.fixture(scope="module")
def our_server() -> Iterator[str]:
    with our_signaling_server() as url:
        yield url
