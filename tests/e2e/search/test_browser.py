"""The search page in a real browser: Debian's chromium driven by Playwright, headless.

Types a query, checks the grouped results, the image thumbnail and the reader view with its
related posts, and saves screenshots ($PRESSROOM_SCREENSHOT_DIR, else the test's tmp dir).
Never downloads a browser: `make test` installs Debian's chromium (`make browser`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import async_playwright, expect

from tests.fakes import search_sites

search_db = search_sites.search_db  # the shared fixtures, found by name
search_settings = search_sites.search_settings
search_api = search_sites.search_api
screenshot_dir = search_sites.screenshot_dir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--metrics-recording-only",
]


def _not_blank(path: Path) -> None:
    with Image.open(path) as shot:
        assert shot.size[0] >= 800
        colours = shot.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, "the screenshot is (nearly) blank"


async def test_search_page_finds_posts_and_images(search_api: str, screenshot_dir: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make browser` (Debian's package)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # Nothing but the API under test: any other request is refused.
            await page.route(
                lambda url: not url.startswith(search_api), lambda route: route.abort()
            )
            await page.goto(f"{search_api}/?site=blog")
            await expect(page.locator("#site")).to_have_value("blog")

            await page.locator("#q").fill("wind speed calibration")
            await page.locator("#q").press("Enter")
            first = page.locator("#results > li.result").first
            await expect(first.locator("h3")).to_have_text("Calibrating a cheap cup anemometer")
            await expect(first.locator(".sections a").first).to_be_visible()
            await expect(first.locator("mark").first).to_be_visible()
            assert "q=wind+speed+calibration" in page.url  # the search is in the address

            image = page.locator("#image-list li.image").first
            await expect(image).to_have_attribute(
                "data-path", "assets/images/anemometer-calibration.png"
            )
            thumb = image.locator("img")
            await expect(thumb).to_be_visible()
            await page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=await thumb.element_handle()
            )
            await page.screenshot(path=screenshot_dir / "search-page.png")

            # Filters narrow the results: the tag filter keeps only the solar post.
            await page.locator("#tags").fill("solar")
            await page.locator("#q").fill("station")
            await page.locator("#q").press("Enter")
            await expect(page.locator("#results > li.result")).to_have_count(1)
            await expect(page.locator("#results h3")).to_have_text(
                "The solar power budget: surviving December"
            )

            # A section link opens the reader at that heading, with related posts.
            await page.locator("#results .sections a").first.click()
            reader = page.locator("#reader")
            await expect(reader.locator("h2")).to_have_text(
                "The solar power budget: surviving December"
            )
            await expect(reader.locator("#related li")).to_have_count(5)
            await page.screenshot(path=screenshot_dir / "reader.png")
            assert errors == []
        finally:
            await browser.close()
    _not_blank(screenshot_dir / "search-page.png")
    _not_blank(screenshot_dir / "reader.png")
