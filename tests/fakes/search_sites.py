"""Search test fixtures: one database per session holding real, searchable sites.

The sites are loaded through the real pipeline steps (`bench.search_quality.load_site`:
fetch, parse, embed with the hashing embedder, load) into a database of their own, so
other tests' sites never share their HNSW index or their site ids:

- `blog`: examples/blog (tags, dates, images with alt text),
- `jekyll`: the jekyll-docs corpus,
- `lyon`: two posts written here, one French (`lang: fr`) and one English, for stemming.
- `press`: `press_posts()`, four posts written straight with the project's loader
  (`tests.fakes.revision_rows`) with the fields a site's conventions fill (url, aliases, date,
  updated, authors, summary), one of them with a `javascript:` URL and one with none.

`big_db` is another database with one site, `big`, of 10,000 generated posts written straight
with the project's loader (`tests.fakes.revision_rows`: hashing embeddings, no parse step, no
Temporal job), for the browser's typing test; `big_api` serves it.

Import the fixtures into a test module: `from tests.fakes.search_sites import search_db`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from pydantic import SecretStr
from temporalio.client import Client

from bench.search_quality import JEKYLL, load_site
from pressroom.config import Settings
from pressroom.models import Post
from tests.fakes.databases import fresh_database

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_BLOG = REPO_ROOT / "examples" / "blog"

FRENCH_POST = """---
title: Relevés de la station du col
lang: fr
date: 2024-05-02
tags: [mesures]
---
Les températures mesurées au col restent basses jusqu'en mai.

## Les chevaux du refuge

Les chevaux du refuge passent l'été sur le plateau.
"""

ENGLISH_POST = """---
title: Notes on French words
date: 2024-05-03
---
The French word mesurées shows up in our logbook, and so do chevaux.
"""


PRESS_SITE = "press"
# Each post's url as its site would publish it, and what the search page must do with it.
PRESS_URLS = {
    "notes/field-notes": "https://weather.example.org/2024/05/02/field-notes/",  # absolute
    "notes/relative": "/blog/2023/rain-gauge/",  # root-relative: no base URL known
    "notes/hostile": "javascript:alert(document.domain)",  # never a link
    "notes/no-url": None,  # renders no page: the reader, as before
}


def press_posts() -> list[Post]:
    """The `press` site: every post mentions the barometer, so one query finds them all."""
    from tests.fakes.revision_rows import post

    return [
        post("notes/field-notes", "Barometer field notes",
             [("", "The barometer fell twelve hectopascals before the storm."),
              ("Readings", "We logged the barometer every hour at the ridge station.")],
             url=PRESS_URLS["notes/field-notes"], aliases=["/old/field-notes/"],
             date="2024-05-02", updated="2024-06-01T09:30:00Z",
             authors=["Ada Lovelace", "Grace Hopper"],
             summary="Twelve hectopascals in a night: what the barometer told us.",
             tags=["pressure"]),
        post("notes/relative", "Rain gauge and barometer",
             [("", "The rain gauge sits beside the barometer on the mast.")],
             url=PRESS_URLS["notes/relative"], date="2023-11-20", authors=["Ada Lovelace"],
             summary="Where the rain gauge went.", tags=["rain"]),
        post("notes/hostile", "A barometer with a hostile link",
             [("", "This barometer post carries a javascript URL in its front matter.")],
             url=PRESS_URLS["notes/hostile"], date="2024-01-15", authors=["Mallory"],
             summary="Never a link."),
        post("notes/no-url", "Barometer calibration without a page",
             [("", "Calibrating the barometer against the airport's reading.")],
             date=None),
    ]  # fmt: skip


@dataclass(frozen=True)
class SearchDB:
    url: str
    revisions: dict[str, str]  # site -> revision id
    work: Path


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


@pytest_asyncio.fixture(scope="session")
async def search_db(pg_url: str) -> AsyncIterator[SearchDB]:
    """A database of its own with the `blog`, `jekyll`, `lyon` and `press` sites loaded."""
    work = Path(tempfile.mkdtemp(prefix="pressroom-search-tests-"))
    async with fresh_database(pg_url, "pressroom_search") as url:
        lyon = work / "lyon"
        lyon.mkdir()
        (lyon / "releves.md").write_text(FRENCH_POST, encoding="utf-8")
        (lyon / "notes.md").write_text(ENGLISH_POST, encoding="utf-8")
        revisions = {
            "blog": await load_site(url, _copy(EXAMPLE_BLOG, work / "blog"), site="blog",
                                    work_dir=work),
            "jekyll": await load_site(url, _copy(JEKYLL, work / "jekyll"), site="jekyll",
                                      work_dir=work),
            "lyon": await load_site(url, lyon, site="lyon", work_dir=work),
            PRESS_SITE: await _load_press(url),
        }  # fmt: skip
        try:
            yield SearchDB(url, revisions, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)


async def _load_press(url: str) -> str:
    from pressroom.db.pool import connect
    from tests.fakes.revision_rows import load

    conn = await connect(url)
    try:
        return (await load(conn, PRESS_SITE, "r-press-1", press_posts())).revision_id
    finally:
        await conn.close()


BIG_SITE = "big"
BIG_POSTS = 10_000


@dataclass(frozen=True)
class BigDB:
    url: str
    revision: str
    posts: int
    load_seconds: float


@pytest_asyncio.fixture(scope="session")
async def big_db(pg_url: str) -> AsyncIterator[BigDB]:
    """A database of its own with `big`: BIG_POSTS posts of 3 sections, current."""
    import time

    from pressroom.db.pool import connect
    from tests.fakes.revision_rows import generated_posts, load

    async with fresh_database(pg_url, "pressroom_big") as url:
        started = time.perf_counter()
        conn = await connect(url)
        try:
            loaded = await load(conn, BIG_SITE, "r-big-1", generated_posts(BIG_POSTS))
        finally:
            await conn.close()
        yield BigDB(url, loaded.revision_id, BIG_POSTS, time.perf_counter() - started)


@pytest_asyncio.fixture
async def big_api(settings: Settings, big_db: BigDB, temporal_client: Client) -> AsyncIterator[str]:
    """The real API app over the 10,000-post database, on a loopback port."""
    big = settings.model_copy(update={"database_url": SecretStr(big_db.url)})
    async with serving(big, temporal_client) as url:
        yield url


@asynccontextmanager
async def serving(settings: Settings, client: Client) -> AsyncIterator[str]:
    """The real API app (job routes and search, as `pressroom api` runs it) on a loopback
    port; yields its base URL."""
    from pressroom.api.app import app_runner, create_app

    runner = app_runner(create_app(settings, client))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
def search_settings(settings: Settings, search_db: SearchDB) -> Settings:
    """The test's settings pointed at the search database."""
    return settings.model_copy(update={"database_url": SecretStr(search_db.url)})


@pytest_asyncio.fixture
async def search_api(search_settings: Settings, temporal_client: Client) -> AsyncIterator[str]:
    """The real API app (job routes and search) on a loopback port, over the search DB."""
    async with serving(search_settings, temporal_client) as url:
        yield url


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the browser test leaves its screenshot: $PRESSROOM_SCREENSHOT_DIR or tmp."""
    import os

    chosen = os.environ.get("PRESSROOM_SCREENSHOT_DIR")
    path = Path(chosen) if chosen else tmp_path
    path.mkdir(parents=True, exist_ok=True)
    yield path
