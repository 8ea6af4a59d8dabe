"""What both agents do with a Grafana tab: open it, read its version, open a guide in Pathfinder.

The version comes from `browser.grafana_version` when set (as config.yaml documents), else from
the page's `window.grafanaBootData`, else the sandbox's default.
"""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import quote

from playwright.async_api import BrowserContext, Frame, Page
from playwright.async_api import Error as PlaywrightError

from bridge.browser.contract import PathfinderContract
from bridge.config import BrowserConfig
from bridge.errors import BridgeError

FALLBACK_VERSION = "12.0.0"
BOOT_VERSION = "() => window.grafanaBootData?.settings?.buildInfo?.version ?? null"
#: A function over the contract (js/guide_steps.js): the guide the docs panel shows, with its steps.
GUIDE_STEPS = (
    resources.files("bridge.browser").joinpath("js", "guide_steps.js").read_text(encoding="utf-8")
)


async def open_grafana(page: Page, grafana_url: str) -> None:
    try:
        await page.goto(grafana_url, wait_until="domcontentloaded")
    except PlaywrightError as exc:
        raise BridgeError(
            f"cannot open Grafana at {grafana_url}: {str(exc).splitlines()[0]}"
        ) from None


async def grafana_version(page: Page, config: BrowserConfig) -> str:
    if config.grafana_version:
        return config.grafana_version
    value = await page.evaluate(
        "() => window.grafanaBootData?.settings?.buildInfo?.version ?? null"
    )
    return value if isinstance(value, str) else FALLBACK_VERSION


async def open_guide(
    page: Page, grafana_url: str, contract: PathfinderContract, guide_url: str
) -> None:
    """Open `guide_url` in the docs panel of the Grafana at `grafana_url`."""
    param = contract["open_guide_param"]
    await page.goto(
        f"{grafana_url}{contract['plugin_path']}?{param}={quote(guide_url, safe='')}",
        wait_until="domcontentloaded",
    )


async def add_guide_reader(context: BrowserContext) -> None:
    """The same reader for our page scripts (replay.js), as `window.__pathfinderBridgeReadGuide`."""
    await context.add_init_script(script=f"window.__pathfinderBridgeReadGuide = {GUIDE_STEPS};")


async def read_guide(where: Page | Frame, contract: PathfinderContract) -> Any:
    """What the docs panel in `where` shows: `{url, steps}` as the page has it, or None."""
    return await where.evaluate(GUIDE_STEPS, contract.data)
