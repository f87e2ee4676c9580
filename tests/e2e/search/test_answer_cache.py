"""The API's answer cache and HTTP caching against real Postgres: a repeated request is served
from memory with the same bytes, a revision switch (its NOTIFY) is seen by the next request,
a lost listener means no cache (never a stale answer), and `ETag`/`Cache-Control`/304 on
`/search`, `/posts/...` and `/media/...`.

Each test loads a site of its own (two revisions, written with the loader) into the search
database, so the tests never see each other's switches.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from pressroom.api.app import app_runner, create_app
from pressroom.api.search import ANSWER_CACHE_KEY, LISTENER_KEY, CachePolicy
from pydantic import SecretStr
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db import revision_events
from pressroom.db.pool import Database, connect
from pressroom.db.revisions import switch_current
from pressroom.publish.latest import RevisionOrder
from pressroom.search.answer_cache import AnswerCache
from tests.fakes import search_sites
from tests.fakes.revision_rows import load, post
from tests.fakes.search_sites import SearchDB

search_db = search_sites.search_db
search_settings = search_sites.search_settings

R1_AT = datetime(2026, 1, 1, tzinfo=UTC)
R2_AT = datetime(2026, 1, 2, tzinfo=UTC)
KESTREL = "posts/kestrel"


@dataclass
class Served:
    base: str
    app: web.Application
    http: aiohttp.ClientSession

    @property
    def cache(self) -> AnswerCache:
        return self.app[ANSWER_CACHE_KEY]

    async def get(
        self, path: str, params: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, bytes, Any]:
        async with self.http.get(self.base + path, params=params, headers=headers) as resp:
            return resp.status, await resp.read(), resp.headers


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for something the event loop delivers: a notification, a lost socket."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def serve(settings: Settings, client: Client) -> AsyncIterator[Served]:
    database = Database(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    app = create_app(settings, client, database=database)
    runner = app_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(f"http://127.0.0.1:{runner.addresses[0][1]}", app, http)
    finally:
        await runner.cleanup()
        await database.close()


@pytest_asyncio.fixture
async def served(search_settings: Settings, temporal_client: Client) -> AsyncIterator[Served]:
    """The API over the search database, its listener up (answers are being cached)."""
    async with serve(search_settings, temporal_client) as s:
        await until(lambda: s.cache.enabled, "the revision listener")
        yield s


@pytest_asyncio.fixture
async def db(search_db: SearchDB) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(search_db.url)
    try:
        yield conn
    finally:
        await conn.close()


def _posts(revision: str) -> list[Any]:
    return [
        post(KESTREL, f"Kestrel nest watch ({revision})", [("", f"The kestrel nest {revision}.")],
             tags=["birds"]),
        post("posts/heron", "Heron rookery", [("", "Herons and a kestrel at the pond.")]),
        post("posts/owl", "Owl pellets", [("", "What the barn owl ate this winter.")]),
    ]  # fmt: skip


@pytest_asyncio.fixture
async def site(db: asyncpg.Connection) -> str:
    """A new site: r1 current, r2 loaded (requested later) but not switched to."""
    name = f"cache-{uuid.uuid4().hex[:8]}"
    await load(db, name, "r1", _posts("r1"), requested_at=R1_AT, indexes=False)
    await load(db, name, "r2", _posts("r2"), switch=False, requested_at=R2_AT, indexes=False)
    return name


async def switch_to_r2(db: asyncpg.Connection, site: str) -> None:
    async with db.transaction():
        await switch_current(db, site, "r2", RevisionOrder.of(R2_AT, "job-r2"))


def _search(site: str, **extra: str) -> dict[str, str]:
    return {"q": "kestrel", "site": site, **extra}


# --- the cache --------------------------------------------------------------------------------


async def test_a_repeated_request_is_served_from_memory_with_the_same_bytes(
    served: Served, site: str, db: asyncpg.Connection
) -> None:
    paths = [
        ("/search", _search(site)),
        (f"/posts/{site}/{KESTREL}", None),
        (f"/posts/{site}/{KESTREL}/related", None),
    ]
    first = [await served.get(path, params) for path, params in paths]
    assert all(status == 200 for status, _, _ in first)
    assert b"Kestrel nest watch (r1)" in first[0][1] and b'"revision": "r1"' in first[1][1]
    # Change the current revision's rows behind the API's back (no notification): what
    # comes back now can only come from memory.
    await db.execute(
        "UPDATE posts SET title = 'changed' WHERE site_id = $1 AND revision_id = 'r1'", site
    )
    hits = served.cache.hits
    again = [await served.get(path, params) for path, params in paths]
    for (_, body, headers), (_, body2, headers2) in zip(first, again, strict=True):
        assert body2 == body and headers2["ETag"] == headers["ETag"]
    assert served.cache.hits == hits + 3
    # The same request spelled differently (defaults given, order changed) is the same entry.
    status, body, _ = await served.get(
        "/search", {"limit": "10", "mode": "hybrid", "site": site, "q": "  kestrel "}
    )
    assert status == 200 and body == first[0][1]
    assert served.cache.hits == hits + 4


async def test_a_switch_is_seen_by_the_next_request(
    served: Served, site: str, db: asyncpg.Connection
) -> None:
    _, before, _ = await served.get("/search", _search(site))
    _, post_before, _ = await served.get(f"/posts/{site}/{KESTREL}")
    assert b"(r1)" in before and b"(r1)" in post_before
    assert served.cache.revision(site) == "r1"
    await switch_to_r2(db, site)
    # The switch's NOTIFY travels to the listener after the commit; once there, the site's
    # revision and answers are gone, and the very next request reads r2.
    await until(lambda: served.cache.revision(site) is None, "the switch's notification")
    status, after, _ = await served.get("/search", _search(site))
    assert status == 200 and b"(r2)" in after and b'"revision": "r2"' in after
    _, post_after, _ = await served.get(f"/posts/{site}/{KESTREL}")
    assert b"(r2)" in post_after and b'"revision": "r2"' in post_after
    assert served.cache.revision(site) == "r2"


async def test_a_lost_listener_means_no_cache_and_no_stale_answer(
    served: Served, site: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, before, _ = await served.get("/search", _search(site))
    assert b"(r1)" in before and served.cache.stats()["entries"] == 1
    listener = served.app[LISTENER_KEY]
    monkeypatch.setattr(revision_events, "RETRY_SECONDS", (3600.0,))  # it stays down
    pid = listener.server_pid()
    assert pid is not None
    assert await db.fetchval("SELECT pg_terminate_backend($1)", pid)
    await until(lambda: not served.cache.enabled, "the listener to notice its lost connection")
    assert served.cache.stats()["entries"] == 0
    # This switch's NOTIFY reaches nobody: without a listener nothing may be served from memory.
    await switch_to_r2(db, site)
    hits = served.cache.hits
    for _ in range(2):
        status, body, _ = await served.get("/search", _search(site))
        assert status == 200 and b"(r2)" in body
    assert served.cache.hits == hits and served.cache.stats()["entries"] == 0

    # Back up (a reconnect): it starts empty, and caches again.
    monkeypatch.undo()
    await listener.close()
    listener.start()
    await until(lambda: served.cache.enabled, "the listener to reconnect")
    _, body, _ = await served.get("/search", _search(site))
    _, again, _ = await served.get("/search", _search(site))
    assert b"(r2)" in body and again == body
    assert served.cache.hits == hits + 1


async def test_without_the_cache_answers_and_etags_are_the_same(
    served: Served, site: str, search_settings: Settings, temporal_client: Client
) -> None:
    """SEARCH_CACHE_ENTRIES=0: no listener, nothing kept; the ETag hashes the bytes, so another
    API process (or this one without a cache) tags the same answer alike and honours it."""
    _, cached_body, cached = await served.get("/search", _search(site))
    off = search_settings.model_copy(update={"search_cache_entries": 0})
    async with serve(off, temporal_client) as plain:
        assert LISTENER_KEY not in plain.app and not plain.cache.enabled
        status, body, headers = await plain.get("/search", _search(site))
        assert status == 200 and body == cached_body and headers["ETag"] == cached["ETag"]
        status, body, _ = await plain.get(
            "/search", _search(site), **{"If-None-Match": cached["ETag"]}
        )
        assert status == 304 and body == b""
        assert plain.cache.stats()["entries"] == 0


# --- HTTP caching -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["search", "post", "related"])
async def test_etag_and_if_none_match(served: Served, site: str, route: str) -> None:
    path, params = {
        "search": ("/search", _search(site)),
        "post": (f"/posts/{site}/{KESTREL}", None),
        "related": (f"/posts/{site}/{KESTREL}/related", None),
    }[route]
    status, body, headers = await served.get(path, params)
    etag = headers["ETag"]
    assert status == 200 and body
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert headers["Cache-Control"] == "public, max-age=5"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    for matching in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        status, body, h = await served.get(path, params, **{"If-None-Match": matching})
        assert status == 304 and body == b"", matching
        assert h["ETag"] == etag and h["Cache-Control"] == "public, max-age=5"
    status, body, _ = await served.get(path, params, **{"If-None-Match": '"nope"'})
    assert status == 200 and body


async def test_errors_carry_no_cache_headers(served: Served) -> None:
    status, _, headers = await served.get("/search", {"q": "x", "site": "no-such-site"})
    assert status == 404 and "ETag" not in headers and "Cache-Control" not in headers


async def test_thumbnails_pinned_to_a_revision_are_immutable(served: Served) -> None:
    status, body, _ = await served.get(
        "/search", {"q": "shaded relief map", "site": "blog", "mode": "text"}
    )
    image = next(i for i in json.loads(body)["images"] if i["thumbnail"])
    url = image["thumbnailUrl"]
    revision = json.loads(body)["revision"]
    assert url.endswith(f"?rev={revision}")
    status, data, pinned = await served.get(url)
    assert status == 200 and pinned["Content-Type"] == "image/webp" and data
    assert pinned["Cache-Control"] == "public, max-age=31536000, immutable"
    # Content-addressed: the current path's answer has the same tag, but may change at a switch.
    current_path = url.split("?", 1)[0]
    status, _, current = await served.get(current_path)
    assert status == 200 and current["ETag"] == pinned["ETag"]
    assert current["Cache-Control"] == "public, max-age=5"
    status, data, h = await served.get(url, **{"If-None-Match": pinned["ETag"]})
    assert status == 304 and data == b"" and h["Cache-Control"] == pinned["Cache-Control"]
    status, _, _ = await served.get(current_path, params={"rev": "no-such-revision"})
    assert status == 404


def test_with_api_tokens_caches_are_private() -> None:
    tokened = CachePolicy.from_settings(Settings(api_tokens=SecretStr("t")))
    assert tokened.current.startswith("private,") and tokened.immutable.startswith("private,")
    assert CachePolicy.from_settings(Settings(search_max_age_seconds=0)).current == (
        "public, max-age=0"
    )
