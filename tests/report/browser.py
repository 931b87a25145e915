"""A real headless Chromium (Debian's `chromium`, driven by playwright) opening report files.

Never `playwright install`: the browser is the system's /usr/bin/chromium, which `.ci/run`
installs when missing. Without it (or without the `playwright` package) tests skip, except
under CI, where they fail. Each page collects its console errors and uncaught exceptions.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"

#: Flags this machine needs for a headless Chromium without a display, GPU or network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Screenshots the tests keep (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

#: The README's screenshot, rewritten when WSWATCH_UPDATE_SCREENSHOTS=1.
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "report.png"


def chromium_or_skip() -> str:
    """The Chromium to drive; skip (fail under CI) when it or playwright is missing."""
    missing = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed (pip install -e '.[test]')"
    if missing is None and not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        missing = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if missing is None:
        return CHROMIUM if os.access(CHROMIUM, os.X_OK) else str(shutil.which("chromium"))
    if os.environ.get("CI"):
        pytest.fail(f"CI needs Chromium for the report tests: {missing}")
    pytest.skip(f"Chromium not available: {missing}")


@dataclass
class OpenedReport:
    page: Any
    #: Console errors and uncaught exceptions, in order.
    errors: list[str] = field(default_factory=list)
    #: Seconds from navigation to the page's load event (its inline script has run).
    load_s: float = 0.0

    async def screenshot(self, name: str) -> Path:
        """Keep a full-page screenshot under tests/artifacts/."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@contextlib.asynccontextmanager
async def opened_report(report: Path, width: int = 1400) -> AsyncIterator[OpenedReport]:
    """`report` loaded from disk (file://) in a fresh headless Chromium, closed on exit."""
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="wswatch-chromium-") as profile:
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=list(CHROMIUM_FLAGS),
                viewport={"width": width, "height": 1000},
                timeout=30_000,
            )
            try:
                page = await context.new_page()
                opened = OpenedReport(page)
                page.on(
                    "console",
                    lambda message: (
                        opened.errors.append(message.text) if message.type == "error" else None
                    ),
                )
                page.on("pageerror", lambda error: opened.errors.append(str(error)))
                started = time.perf_counter()
                await page.goto(report.resolve().as_uri(), timeout=30_000)
                opened.load_s = time.perf_counter() - started
                yield opened
            finally:
                await context.close()
