"""Real headless Chromium for the tests (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT

ARTIFACTS = Path(os.environ.get("CLICKSIFT_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--hide-scrollbars", "--font-render-hinting=none"]
REQUIRE_CHROMIUM = os.environ.get("CLICKSIFT_REQUIRE_CHROMIUM") == "1"


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser, or a skip (a failure when CLICKSIFT_REQUIRE_CHROMIUM=1)."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        path = None
    if path is None:
        if REQUIRE_CHROMIUM:
            pytest.fail("Chromium and Playwright are required (CLICKSIFT_REQUIRE_CHROMIUM=1)")
        pytest.skip("Chromium or Playwright is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
