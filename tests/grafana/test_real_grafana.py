"""The same flows against a real Grafana: collected only when GRAFANA_URL is set (`make test-grafana`).

GRAFANA_USER / GRAFANA_PASSWORD sign in when the instance needs it. These tests check the DOM
contract the sandbox reproduces: the boot data version, the selector table for that version,
and replay (highlight and in-app navigation) in a real Grafana page.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from bridge.browser.capture import ActionCapture
from bridge.browser.grafana_tab import grafana_version
from bridge.browser.replay import ActionReplay
from bridge.config import BrowserConfig
from bridge.protocol.events import AttendeeMode, DoIt, InteractiveAction, ShowMe, TargetAction

pytestmark = pytest.mark.grafana
GRAFANA_URL = os.environ.get("GRAFANA_URL", "")


async def signed_in_replay(mode: AttendeeMode) -> ActionReplay:
    replay = ActionReplay(BrowserConfig(action_timeout=10), GRAFANA_URL, mode=mode)
    await replay.start()
    user, password = os.environ.get("GRAFANA_USER"), os.environ.get("GRAFANA_PASSWORD")
    if user and password:
        capture = ActionCapture(BrowserConfig(), GRAFANA_URL, on_step=lambda step: None)
        capture.page = replay.page
        await capture.sign_in(user, password)
    return replay


async def test_boot_data_and_selector_table() -> None:
    replay = await signed_in_replay(AttendeeMode.GUIDED)
    try:
        assert replay.selectors is not None
        assert replay.page is not None
        version = await grafana_version(replay.page, BrowserConfig())
        assert version[0].isdigit()
        toggle = replay.selectors.css("components.NavBar.Toggle.button")
        assert await replay.page.locator(toggle).count() == 1  # type: ignore[union-attr]
    finally:
        await replay.close()


async def test_highlight_and_navigation_in_real_grafana() -> None:
    replay = await signed_in_replay(AttendeeMode.FOLLOW)
    try:
        show = ShowMe(
            stepId="t1",
            action=InteractiveAction(
                TargetAction.HIGHLIGHT,
                "grafana:components.NavBar.Toggle.button",
                targetComment="The menu",
            ),
        )
        result = await replay.replay(show)
        assert result.ok, result.detail
        go = DoIt(stepId="t2", action=InteractiveAction(TargetAction.NAVIGATE, "/dashboards"))
        result = await replay.replay(go)
        assert result.ok, result.detail
        await asyncio.sleep(1)
        assert replay.page is not None and "/dashboards" in replay.page.url
        evil = DoIt(
            stepId="t3", action=InteractiveAction(TargetAction.NAVIGATE, "https://example.com/")
        )
        assert not (await replay.replay(evil)).ok
    finally:
        await replay.close()
