"""The search API and page: `GET /search`, related posts, a post's sections, thumbnails, `/`.

Owns request validation (400 naming the parameter) and the HTTP mapping of
`pressroom.search` errors (404 unknown site, 409 embedder mismatch, 503 database down). The
database pool and the query embedder are created by an app cleanup context (or passed in by
the caller, e.g. tests) and released with the app: nothing global.

Caching (docs/search.md): answers of `/search` and `/posts/...` are kept per (site, current
revision, request) in an `AnswerCache`, forgotten when a `RevisionListener` hears the site's
switch, and not kept at all while it hears nothing. Every answer carries a strong `ETag` (a
hash of its bytes) and a short `Cache-Control` max-age; a matching `If-None-Match` is a 304.
Thumbnail URLs in answers are pinned to their revision (`?rev=`), so they are immutable.

Post ids contain `/` (`_posts/2024-03-02-why`): in `/posts/{site}/{postId}/related` and
`/posts/{site}/{postId}` the id is the rest of the path, with or without its slashes encoded
as `%2F`; encode a post id whose last segment is `related` (`a%2Frelated`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web
from pressroom.api.etags import if_none_match

from pressroom.config import Settings
from pressroom.db import related
from pressroom.db.pool import Database, database_url
from pressroom.db.posts import post_exists, read_post
from pressroom.db.revision_events import RevisionListener
from pressroom.db.thumbnails import read_thumbnail
from pressroom.embeddings import aclose_embedder, make_embedder
from pressroom.embeddings.base import Embedder
from pressroom.search.answer_cache import Answer, AnswerCache
from pressroom.search.fusion import Fusion
from pressroom.search.hits import bounded, bounded_terms, bounded_url, bounded_urls
from pressroom.search.params import MAX_LIMIT, SearchError, SearchParams, SiteNotFound
from pressroom.search.searcher import Searcher, require_revision

log = logging.getLogger("pressroom.api.search")

STATIC_DIR = Path(__file__).with_name("static")
SEARCHER_KEY = web.AppKey("searcher", Searcher)
SEARCH_DB_KEY = web.AppKey("search_database", Database)
ANSWER_CACHE_KEY = web.AppKey("answer_cache", AnswerCache)
LISTENER_KEY = web.AppKey("revision_listener", RevisionListener)


@dataclass(frozen=True)
class CachePolicy:
    """The `Cache-Control` values: answers that change at the next switch, and immutable ones.
    With API tokens, `private`: a shared cache must not hand an answer to a client without one."""

    current: str
    immutable: str

    @classmethod
    def from_settings(cls, settings: Settings) -> CachePolicy:
        scope = "private" if settings.api_tokens else "public"
        return cls(
            current=f"{scope}, max-age={settings.search_max_age_seconds}",
            immutable=f"{scope}, max-age=31536000, immutable",
        )


POLICY_KEY = web.AppKey("search_cache_policy", CachePolicy)

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The database is down or refusing connections: 503, not a crash (query errors stay 500s);
# the site routes (api/sites.py) answer the same.
DB_DOWN = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
)
_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# --- resources -----------------------------------------------------------------------------


def _resources(
    settings: Settings, database: Database | None, embedder: Embedder | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        own_db = database is None
        db = database or Database(await asyncio.to_thread(database_url, settings))
        own_embedder = embedder is None
        emb: Embedder | None = embedder
        if emb is None:
            try:
                emb = make_embedder(settings)
            except ValueError as exc:  # misconfigured: text search still works
                log.warning("no query embedder (%s): searches fall back to full text", exc)
        app[SEARCH_DB_KEY] = db
        app[SEARCHER_KEY] = Searcher(emb, Fusion.from_settings(settings))
        cache = AnswerCache(settings.search_cache_entries, settings.search_cache_bytes)
        app[ANSWER_CACHE_KEY] = cache
        listener: RevisionListener | None = None
        if cache.max_entries and cache.max_bytes:
            listener = RevisionListener(
                db.url,
                on_switch=cache.switched,
                on_up=lambda: cache.listening(True),
                on_down=lambda: cache.listening(False),
            )
            app[LISTENER_KEY] = listener
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.close()
            if own_db:
                await db.close()
            if own_embedder and emb is not None:
                await aclose_embedder(emb)

    return ctx


def install(
    app: web.Application,
    settings: Settings,
    *,
    database: Database | None = None,
    embedder: Embedder | None = None,
) -> None:
    """Register the search routes and the cleanup context that owns the pool and embedder
    (`database`/`embedder` given: used as they are, and left open for their owner)."""
    app.cleanup_ctx.append(_resources(settings, database, embedder))
    app[POLICY_KEY] = CachePolicy.from_settings(settings)
    app.router.add_get("/search", search)
    app.router.add_get("/posts/{site}/{post_id:.+}/related", related_posts)
    app.router.add_get("/posts/{site}/{post_id:.+}", post)
    app.router.add_get("/media/{site}/{path:.+}", media)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)


# --- parameters ----------------------------------------------------------------------------


def _bad(message: str, parameter: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=_dumps({"error": message, "parameter": parameter}), content_type="application/json"
    )


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


def _date(raw: str, parameter: str, *, end: bool) -> datetime:
    """`YYYY-MM-DD` (a whole day: `to` then means the end of that day) or an ISO datetime
    (UTC unless it names a zone). Past either end of what a datetime holds (the end of
    9999-12-31, or a zone that moves 0001-01-01 or 9999-12-31 over the edge) it is that
    end: no bound, as meant."""
    text = raw.strip()
    try:
        if len(text) == 10:
            value = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            if end:
                value = value.replace(tzinfo=None)  # naive: the addition may overflow below
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            f"{parameter} must be a date (YYYY-MM-DD) or an ISO 8601 datetime", parameter
        ) from None
    try:
        if len(text) == 10 and end:
            return (value + timedelta(days=1)).replace(tzinfo=UTC)
        if not value.tzinfo:
            return value.replace(tzinfo=UTC)
        value.astimezone(UTC)  # as the database will hold it: overflows past either end
        return value
    except OverflowError:
        edge = datetime.max if value.year == MAXYEAR else datetime.min
        return edge.replace(tzinfo=UTC)


def parse_params(query: Any) -> SearchParams:
    """SearchParams from a request's query string; `web.HTTPBadRequest` naming the parameter."""
    q = query.get("q")
    if q is None or not q.strip():
        raise _bad("q is required (the search query)", "q")
    site = query.get("site")
    if site is None or not site.strip():
        raise _bad("site is required", "site")
    raw_limit = query.get("limit", "10")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise _bad(f"limit must be an integer between 1 and {MAX_LIMIT}", "limit") from None
    tags = tuple(
        t.strip() for value in query.getall("tags", []) for t in value.split(",") if t.strip()
    )
    date_from = _date(query["from"], "from", end=False) if query.get("from") else None
    date_to = _date(query["to"], "to", end=True) if query.get("to") else None
    try:
        return SearchParams(
            query=q.strip(),
            site=site.strip(),
            mode=query.get("mode", "hybrid"),
            kind=query.get("kind", "all"),
            limit=limit,
            tags=tags,
            date_from=date_from,
            date_to=date_to,
        )
    except SearchError as err:
        raise _bad(err.message, err.parameter or "q") from None


# --- handlers ------------------------------------------------------------------------------


def _error(err: SearchError) -> web.Response:
    return web.json_response(err.body(), status=err.status)


def database_unavailable(exc: BaseException) -> web.Response:
    log.warning("search database unavailable: %r", exc)
    return web.json_response(
        {"error": "the search database is unavailable", "detail": type(exc).__name__},
        status=503,
    )


def _encode(body: dict[str, Any]) -> Answer:
    return Answer.of(json.dumps(body).encode())


def _respond(request: web.Request, answer: Answer, cache_control: str) -> web.Response:
    headers = {**_SECURITY_HEADERS, "ETag": answer.etag, "Cache-Control": cache_control}
    if if_none_match(request.headers.get("If-None-Match"), answer.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=answer.body, content_type="application/json", charset="utf-8", headers=headers
    )


async def search(request: web.Request) -> web.Response:
    params = parse_params(request.query)
    cache = request.app[ANSWER_CACHE_KEY]
    key = ("search", params)  # parsed: defaults filled in, so equal requests share an entry
    answer = cache.get(params.site, key)
    if answer is None:
        token = cache.token(params.site)  # before the read: a switch during it is noticed
        searcher = request.app[SEARCHER_KEY]
        try:
            pool = await request.app[SEARCH_DB_KEY].pool()
            async with pool.acquire() as conn:
                body = await searcher.search(conn, params)
        except SearchError as err:
            return _error(err)
        except DB_DOWN as exc:
            return database_unavailable(exc)
        site, revision = body["site"], body["revision"]
        for result in body["results"]:
            result["relatedUrl"] = _post_url(site, result["postId"]) + "/related"
        for image in body["images"]:
            image["thumbnailUrl"] = (
                f"{_media_url(site, image['path'])}?rev={_quote(revision)}"
                if image["thumbnail"]
                else None
            )
        answer = _encode(body)
        cache.put(token, revision, key, answer)
    return _respond(request, answer, request.app[POLICY_KEY].current)


def _quote(part: str) -> str:
    return quote(part, safe="")


def _post_url(site: str, post_id: str) -> str:
    return f"/posts/{_quote(site)}/{_quote(post_id)}"


def _media_url(site: str, path: str) -> str:
    return f"/media/{_quote(site)}/{'/'.join(_quote(p) for p in path.split('/'))}"


def _no_post(site: str, post_id: str) -> web.Response:
    body = {"error": f"no post {post_id!r} in site {site!r}", "parameter": "postId"}
    return web.json_response(body, status=404)


async def related_posts(request: web.Request) -> web.Response:
    """A post's related posts (at most 5, best first, never the post itself)."""
    return await _post_answer(request, with_post=False)


async def post(request: web.Request) -> web.Response:
    """A post of the current revision with its sections' text: the search page's reader."""
    return await _post_answer(request, with_post=True)


async def _post_answer(request: web.Request, *, with_post: bool) -> web.Response:
    site, post_id = request.match_info["site"], request.match_info["post_id"]
    cache = request.app[ANSWER_CACHE_KEY]
    key = ("post" if with_post else "related", post_id)
    answer = cache.get(site, key)
    if answer is None:
        token = cache.token(site)
        try:
            pool = await request.app[SEARCH_DB_KEY].pool()
            async with pool.acquire() as conn:
                revision = (await require_revision(conn, site)).revision_id
                found: dict[str, Any] | None = (
                    await read_post(conn, site, revision, post_id) if with_post
                    else {} if await post_exists(conn, site, revision, post_id)
                    else None
                )  # fmt: skip
                rows = [] if found is None else await related.related_posts(
                    conn, site, revision, post_id
                )  # fmt: skip
        except SiteNotFound as err:
            return _error(err)
        except DB_DOWN as exc:
            return database_unavailable(exc)
        if found is None:  # never in this revision (or pruned between the reads)
            return _no_post(site, post_id)
        answer = _encode(_post_body(site, revision, post_id, found, rows))
        cache.put(token, revision, key, answer)
    return _respond(request, answer, request.app[POLICY_KEY].current)


def _post_body(
    site: str, revision: str, post_id: str, found: dict[str, Any], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The answer, every repeated field within HIT_CAPS (the post's own sections' text is
    the reader's content and stays whole)."""
    for row in rows:
        # `url` is where the site publishes the post (None: unknown); `postUrl` this API's.
        row["title"] = bounded(row["title"], "title")
        row["tags"] = bounded_terms(row["tags"])
        row["postUrl"] = _post_url(site, row["postId"])
    if found:
        found["title"] = bounded(found["title"], "title")
        found["url"] = bounded_url(found["url"])
        found["aliases"] = bounded_urls(found["aliases"])
        found["authors"] = bounded_terms(found["authors"], "author", "authors")
        found["description"] = bounded(found["description"], "description")
        found["summary"] = bounded(found["summary"], "summary")
        found["tags"] = bounded_terms(found["tags"])
        for section in found["sections"]:
            section["heading"] = bounded(section["heading"], "heading")
    return {"site": site, "revision": revision, "postId": post_id, **found, "related": rows}


async def media(request: web.Request) -> web.StreamResponse:
    """An image's thumbnail (WebP) in the site's current revision, or with `?rev=` in that
    revision: a revision never changes, so that answer is immutable."""
    site, path = request.match_info["site"], request.match_info["path"]
    pinned = request.query.get("rev") or None
    try:
        pool = await request.app[SEARCH_DB_KEY].pool()
        async with pool.acquire() as conn:
            found = await read_thumbnail(conn, site, path, pinned)
    except DB_DOWN as exc:
        return database_unavailable(exc)
    if found is None:
        return web.json_response({"error": f"no thumbnail for {path!r} in {site!r}"}, status=404)
    policy = request.app[POLICY_KEY]
    # Content-addressed: the same image bytes and settings give the same tag in any revision.
    etag = f'"{found.image_sha256}-{found.spec}"'
    headers = {
        **_SECURITY_HEADERS,
        "Cache-Control": policy.immutable if pinned else policy.current,
        "ETag": etag,
        "Content-Security-Policy": "default-src 'none'",
    }
    if if_none_match(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=found.data, content_type=found.mime, headers=headers)


async def index(request: web.Request) -> web.StreamResponse:
    """The search page (static HTML + JS, no build step)."""
    headers = {**_SECURITY_HEADERS, "Content-Security-Policy": _PAGE_CSP}
    return web.FileResponse(STATIC_DIR / "index.html", headers=headers)
