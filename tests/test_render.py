"""Original and prepared emails render to the same pixels in real Chromium."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from clicksift.server.responses import PIXEL_GIF
from tests.browser import artifact, chromium
from tests.test_prepare import CORPUS, prepare

pytestmark = pytest.mark.chromium
WIDTHS = (640, 375)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _screenshot(browser: Any, html: str, width: int) -> bytes:
    page = browser.new_page(viewport={"width": width, "height": 64})
    try:
        # The open pixel loads for real; anything else outside the page fails at once.
        page.route("**/o/**", lambda route: route.fulfill(
            status=200, content_type="image/gif", body=PIXEL_GIF))
        page.route("http*://**", lambda route: route.abort())
        page.set_content(html, wait_until="load")
        return page.screenshot(full_page=True, animations="disabled")
    finally:
        page.close()


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
@pytest.mark.parametrize("width", WIDTHS)
def test_prepared_email_is_pixel_identical(browser: Any, path: Path, width: int) -> None:
    original = path.read_text()
    prepared = prepare(original, honeypot_links=2).html
    before = Image.open(io.BytesIO(_screenshot(browser, original, width))).convert("RGBA")
    after = Image.open(io.BytesIO(_screenshot(browser, prepared, width))).convert("RGBA")
    stem = f"render-{path.stem}-{width}"
    before.save(artifact(f"{stem}-original.png"))
    after.save(artifact(f"{stem}-prepared.png"))
    assert before.size == after.size, f"page size changed: {before.size} -> {after.size}"
    difference = ImageChops.difference(before, after)
    box = difference.getbbox()
    if box is not None:
        difference.save(artifact(f"{stem}-difference.png"))
    assert box is None, f"pixels differ inside {box}; see {stem}-difference.png"


def test_honeypot_is_hidden_from_people_and_assistive_technology(browser: Any) -> None:
    html = prepare('<html><body><p><a href="https://x.example/">visible</a></p></body></html>',
                   honeypot_links=2).html
    page = browser.new_page()
    try:
        page.set_content(html)
        honeypots = page.locator('a[aria-hidden="true"]')
        assert honeypots.count() == 2
        for index in range(2):
            assert not honeypots.nth(index).is_visible()
            assert honeypots.nth(index).get_attribute("tabindex") == "-1"
        # What a screen reader gets: one link, the visible one; no image.
        tree = page.locator("body").aria_snapshot()
        assert tree.count("- link") == 1 and 'link "visible"' in tree
        assert "img" not in tree
        # Keyboard focus reaches the visible link and nothing else.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "visible"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") in {"BODY", "HTML"}
        # A person clicking anywhere on the page never lands on a honeypot.
        assert page.evaluate(
            "[...document.querySelectorAll('a[aria-hidden]')]"
            ".every(a => a.getClientRects().length === 0)")
    finally:
        page.close()
