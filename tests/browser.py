"""Headless Chromium for the memory browser tests, driven by Playwright for Python.

Playwright's own browser download is not used: it launches the system's Chromium (Debian's
`chromium` package; `.ci/run` installs it), or the one LANGMEM_TEST_CHROMIUM names. The flags
keep Chromium off the network (no background services, no component updates, no sync) and
let it run as root in a container.
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
