"""The search page in a real browser: Debian's chromium driven by Playwright, headless.

Types a query, checks the grouped results, the image thumbnail and the reader view with its
related posts, and saves screenshots ($PRESSROOM_SCREENSHOT_DIR, else the test's tmp dir).
Typing key by key: an earlier keystroke's slow answer never replaces the last one's, and on
the 10,000-post site the time from the last keystroke to its results on screen is measured
and reported (printed, and written to `browser-typing.json` in $PRESSROOM_BENCH_DIR, else the
test's tmp dir; docs/performance.md quotes it). Speed is reported, never asserted.
Never downloads a browser: `make test` installs Debian's chromium (`make browser`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from PIL import Image
from playwright.async_api import Browser, Page, Route, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from tests.fakes import search_sites
from tests.fakes.search_sites import BIG_SITE, BigDB

search_db = search_sites.search_db  # the shared fixtures, found by name
search_settings = search_sites.search_settings
search_api = search_sites.search_api
screenshot_dir = search_sites.screenshot_dir
big_db = search_sites.big_db
big_api = search_sites.big_api

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


# --- typing key by key ------------------------------------------------------------------------

# Installed before the page's own script: when each key went down, and when each answer was
# rendered (the page's `pressroom:results` event) and then painted (the next animation frame).
WATCH_SCRIPT = """
window.__keys = [];
window.__shown = [];
document.addEventListener("keydown", () => window.__keys.push(performance.now()), true);
document.addEventListener("pressroom:results", (event) => {
  const entry = { query: event.detail.query, rendered: performance.now(), painted: null };
  window.__shown.push(entry);
  requestAnimationFrame(() => { entry.painted = performance.now(); });
});
"""
SEARCH_REQUEST = re.compile(r"/search\?")
TYPING_DELAY_MS = 120  # between keys: a quick typist (about 100 words a minute)


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make browser` (Debian's package)")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _open(browser: Browser, base: str, site: str) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": 1200, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.add_init_script(WATCH_SCRIPT)
    await page.goto(f"{base}/?site={site}")
    await expect(page.locator("#site")).to_have_value(site)
    return page, errors


async def _type(page: Page, query: str, *, pause_at: int | None = None) -> dict[str, Any]:
    """Type `query` key by key into an empty box (pausing 0.5 s after `pause_at` characters:
    longer than any debounce, so that prefix is searched); wait until its answer is on screen
    and a moment more (a late, stale answer would land by then); the page's timings."""
    box = page.locator("#q")
    await box.fill("")
    await page.evaluate("window.__keys = []; window.__shown = [];")
    if pause_at is not None:
        await box.press_sequentially(query[:pause_at], delay=TYPING_DELAY_MS)
        await asyncio.sleep(0.5)
        query_rest = query[pause_at:]
    else:
        query_rest = query
    await box.press_sequentially(query_rest, delay=TYPING_DELAY_MS)
    await page.wait_for_function(
        """q => document.getElementById("results").dataset.query === q
               && window.__shown.some(e => e.query === q && e.painted !== null)""",
        arg=query,
    )
    await asyncio.sleep(1.5)  # longer than any delayed stale answer below
    return await page.evaluate("({ keys: window.__keys, shown: window.__shown })")


def _after_last_key(timings: dict[str, Any], query: str) -> tuple[dict[str, Any], list[str]]:
    """The final query's first answer shown after the last keystroke, and the queries of
    every answer rendered after it (the page must show nothing else)."""
    last_key = timings["keys"][-1]
    shown = [e for e in timings["shown"] if e["rendered"] > last_key]
    first = next(e for e in shown if e["query"] == query)
    later = [e["query"] for e in shown if e["rendered"] >= first["rendered"]]
    return {**first, "lastKey": last_key}, later


async def test_a_slow_earlier_answer_never_replaces_the_last_one(
    search_api: str, browser: Browser
) -> None:
    """Every search but the final query's is held back 800 ms: an earlier keystroke's answer
    (`sol`, searched during a pause) arriving after the last one's must not replace it (the
    page aborts superseded searches)."""
    final = "solar"
    page, errors = await _open(browser, search_api, "blog")

    async def hold_back_earlier(route: Route) -> None:
        if f"q={final}&" not in route.request.url + "&":
            await asyncio.sleep(0.8)
        with contextlib.suppress(PlaywrightError):  # the page aborted it meanwhile: the point
            await route.continue_()

    await page.route(SEARCH_REQUEST, hold_back_earlier)
    timings = await _type(page, final, pause_at=3)
    first, later = _after_last_key(timings, final)
    assert later == [final], f"a stale answer was shown after the last one: {later}"
    assert first["query"] == final
    await expect(page.locator("#results > li.result").first.locator("h3")).to_have_text(
        "The solar power budget: surviving December"
    )
    assert errors == []


def _bench_dir(tmp_path: Path) -> Path:
    chosen = os.environ.get("PRESSROOM_BENCH_DIR")
    path = Path(chosen) if chosen else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    return path


async def _api_titles(base: str, query: str) -> list[str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/search", params={"q": query, "site": BIG_SITE}) as resp,
    ):
        assert resp.status == 200
        return [r["title"] for r in (await resp.json())["results"]]


# Typed on the 10,000-post site: words of thousands of posts, and one post's own word (its
# answer is known in advance: that post first).
TYPED = [
    ("river stone latency", None),  # the API load bench's query
    ("post04242omega", "posts/p04242"),
    ("glacier cache rollback", None),
]


async def test_typing_on_a_10000_post_site_shows_the_last_query(
    big_api: str, big_db: BigDB, browser: Browser, tmp_path: Path
) -> None:
    """Type three queries key by key; the results shown are the final query's (the same
    posts the API answers for it, never a prefix's); the time from the last keystroke to
    them being painted is reported, not asserted."""
    page, errors = await _open(browser, big_api, BIG_SITE)
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/search?" in r.url else None)
    measured = []
    for query, top in TYPED:
        searches.clear()
        timings = await _type(page, query)
        first, later = _after_last_key(timings, query)
        assert later == [query], f"a stale answer was shown after the last one: {later}"
        shown = await page.locator("#results > li.result h3").all_inner_texts()
        assert shown == await _api_titles(big_api, query)
        # The test can fail: a prefix's answer is another list.
        assert shown != await _api_titles(big_api, query[:-2])
        if top is not None:
            await expect(page.locator("#results > li.result").first).to_have_attribute(
                "data-post-id", top
            )
        measured.append(
            {
                "query": query,
                "keystrokes": len(query),
                "searchesSent": len(searches),
                "lastKeyToRenderedMs": round(first["rendered"] - first["lastKey"], 1),
                "lastKeyToPaintedMs": round(first["painted"] - first["lastKey"], 1),
            }
        )
    assert errors == []
    painted = [m["lastKeyToPaintedMs"] for m in measured]
    report = {
        "test": f"{__name__}.test_typing_on_a_10000_post_site_shows_the_last_query",
        "posts": big_db.posts,
        "sections": big_db.posts * 3,
        "fixtureLoadSeconds": round(big_db.load_seconds, 1),
        "typingDelayMs": TYPING_DELAY_MS,
        "mode": "hybrid",
        "queries": measured,
        "lastKeyToPaintedMsMedian": statistics.median(painted),
        "lastKeyToPaintedMsMax": max(painted),
    }
    out = _bench_dir(tmp_path) / "browser-typing.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"\nbrowser typing, {big_db.posts} posts: last keystroke -> results painted "
        f"{painted} ms (median {report['lastKeyToPaintedMsMedian']} ms); {out}"
    )


# --- post dates, authors and links to the post's own URL ----------------------------------------

# What siteHref makes of a post's url: only http(s) and root-relative URLs become links.
HREFS = {
    "https://weather.example.org/a/": "https://weather.example.org/a/",
    "http://weather.example.org/b?x=1#c": "http://weather.example.org/b?x=1#c",
    "/blog/x/": "/blog/x/",
    "javascript:alert(1)": None,
    "JavaScript:alert(1)": None,
    " javascript:alert(1)": None,
    "java\tscript:alert(1)": None,
    "data:text/html,<script>alert(1)</script>": None,
    "vbscript:msgbox(1)": None,
    "//evil.example/x": None,  # scheme-relative: another host, not a path of this site
    "/\\evil.example/x": None,
    "blog/x/": None,  # relative to the search page: never the post
    "": None,
}


async def test_hits_show_dates_authors_and_link_to_the_post_url(
    search_api: str, browser: Browser, screenshot_dir: Path
) -> None:
    page, errors = await _open(browser, search_api, search_sites.PRESS_SITE)
    opened: list[str] = []

    async def the_site(route: Route) -> None:
        opened.append(route.request.url)
        await route.fulfill(body="<h1>Field notes</h1>", content_type="text/html")

    # The post's own site, served here: nothing leaves the machine.
    await page.route("https://weather.example.org/**", the_site)
    assert await page.evaluate("urls => urls.map(siteHref)", list(HREFS)) == list(HREFS.values())

    await page.locator("#q").fill("barometer")
    await page.locator("#q").press("Enter")
    results = page.locator("#results > li.result")
    await expect(results).to_have_count(4)

    def hit(post_id: str) -> Any:
        return page.locator(f'#results > li.result[data-post-id="{post_id}"]')

    notes = hit("notes/field-notes")
    await expect(notes.locator("h3 a")).to_have_attribute(
        "href", search_sites.PRESS_URLS["notes/field-notes"]
    )
    await expect(notes.locator(".meta time")).to_have_attribute(
        "datetime", "2024-05-02T00:00:00+00:00"
    )
    await expect(notes.locator(".meta time")).to_have_text("2 May 2024")
    await expect(notes.locator(".meta")).to_contain_text("by Ada Lovelace, Grace Hopper")

    relative = hit("notes/relative")
    await expect(relative.locator("h3 a")).to_have_attribute("href", "/blog/2023/rain-gauge/")
    await expect(relative.locator(".meta time")).to_have_text("20 November 2023")
    await expect(relative.locator(".meta")).to_contain_text("by Ada Lovelace")

    # A javascript: URL is never a link: the title opens the reader, as without a URL.
    hostile = hit("notes/hostile")
    await expect(hostile.locator("h3 a")).to_have_attribute(
        "href", re.compile(r"^/\?site=press&post=")
    )
    await expect(hostile.locator(".meta time")).to_have_text("15 January 2024")
    no_url = hit("notes/no-url")
    await expect(no_url.locator("h3 a")).to_have_attribute(
        "href", re.compile(r"^/\?site=press&post=")
    )
    await expect(no_url.locator(".meta time")).to_have_count(0)
    await expect(no_url.locator(".meta")).not_to_contain_text("by ")
    hrefs = await page.eval_on_selector_all(
        "a[href]", "links => links.map(a => a.getAttribute('href'))"
    )
    assert not [h for h in hrefs if not h.startswith(("/", "https://", "http://"))], hrefs
    await page.screenshot(path=screenshot_dir / "search-dates.png")

    # The hostile post's title opens the reader, its title there no link either.
    await hostile.locator("h3 a").click()
    reader = page.locator("#reader")
    await expect(reader.locator("h2")).to_have_text("A barometer with a hostile link")
    await expect(reader.locator("h2 a")).to_have_count(0)
    await expect(reader.locator(".meta time")).to_have_text("15 January 2024")

    # A post with a URL: the reader's title links there too, and the hit's title opens it.
    await page.goto(f"{search_api}/?site=press&post=notes%2Ffield-notes")
    await expect(reader.locator("h2 a")).to_have_attribute(
        "href", search_sites.PRESS_URLS["notes/field-notes"]
    )
    await expect(reader.locator(".meta")).to_contain_text("by Ada Lovelace, Grace Hopper")
    await expect(reader.locator("#related li time").first).to_be_visible()
    await page.goto(f"{search_api}/?site=press&q=barometer")
    await hit("notes/field-notes").locator("h3 a").click()
    await page.wait_for_url(search_sites.PRESS_URLS["notes/field-notes"])
    assert opened == [search_sites.PRESS_URLS["notes/field-notes"]]
    assert errors == []
