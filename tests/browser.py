"""Headless Chromium for the memory browser tests, driven by Playwright for Python.

Playwright's own browser download is not used: it launches the system's Chromium (Debian's
`chromium` package; `.ci/run` installs it), or the one LANGMEM_TEST_CHROMIUM names. The flags
keep Chromium off the network (no background services, no component updates, no sync) and
let it run as root in a container, and skip the address-bar popup a headless browser never shows.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser

#: Features Playwright turns off itself: Chromium keeps only the last `--disable-features` it is
#: given, so the one below repeats Playwright's list (Playwright 1.65; the Edge-only ones left out)
#: before adding its own.
PLAYWRIGHT_DISABLED_FEATURES = [
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
]
#: New headless Chromium builds every window's address-bar popup as a WebUI page in a renderer of
#: its own, one per browser context (a test's fresh profile): ≈0.5 s of CPU each, for a popup a
#: headless browser never shows.
NO_OMNIBOX_POPUP = ["WebUIOmniboxPopup", "WebUIOmniboxAimPopup", "PreloadTopChromeWebUI"]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--renderer-process-limit=1",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--mute-audio",
    "--disable-software-rasterizer",
    "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + NO_OMNIBOX_POPUP),
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    given = os.environ.get("LANGMEM_TEST_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def why_no_browser() -> str | None:
    """None if the browser tests can run; otherwise why not (the skip reason)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return "no Chromium found: apt-get install chromium (or set LANGMEM_TEST_CHROMIUM to its path)"
    return None


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def screenshot_dir(fallback: Path) -> Path:
    """Where the tests leave their screenshots: LANGMEM_UI_SCREENSHOTS, else the test's temp dir."""
    out = Path(os.environ.get("LANGMEM_UI_SCREENSHOTS") or fallback)
    out.mkdir(parents=True, exist_ok=True)
    return out
