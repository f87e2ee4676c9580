"""The search API and page: `GET /search`, related posts, a post's sections, thumbnails, `/`.

Owns request validation (400 naming the parameter) and the HTTP mapping of
`pressroom.search` errors (404 unknown site, 409 embedder mismatch, 503 database down). The
database pool and the query embedder are created by an app cleanup context (or passed in by
the caller, e.g. tests) and released with the app: nothing global.

Post ids contain `/` (`_posts/2024-03-02-why`): in `/posts/{site}/{postId}/related` and
`/posts/{site}/{postId}` the id is the rest of the path, with or without its slashes encoded
as `%2F`; encode a post id whose last segment is `related` (`a%2Frelated`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
from aiohttp import web

from pressroom.config import Settings
from pressroom.db import related
from pressroom.db.pool import Database, database_url
from pressroom.db.posts import post_exists, read_post
from pressroom.db.sites import current_revisions
from pressroom.db.thumbnails import get_thumbnail
from pressroom.embeddings import aclose_embedder, make_embedder
from pressroom.embeddings.base import Embedder
from pressroom.search.fusion import Fusion
from pressroom.search.params import MAX_LIMIT, SearchError, SearchParams, SiteNotFound
from pressroom.search.searcher import Searcher, require_revision

log = logging.getLogger("pressroom.api.search")

STATIC_DIR = Path(__file__).with_name("static")
SEARCHER_KEY = web.AppKey("searcher", Searcher)
SEARCH_DB_KEY = web.AppKey("search_database", Database)

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The database is down or refusing connections: 503, not a crash (query errors stay 500s).
_DB_DOWN = (
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
        try:
            yield
        finally:
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
    app.router.add_get("/search", search)
    app.router.add_get("/sites", sites)
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
    """`YYYY-MM-DD` (a whole day: `to` then means the end of that day) or an ISO datetime."""
    text = raw.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            f"{parameter} must be a date (YYYY-MM-DD) or an ISO 8601 datetime", parameter
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


def _unavailable(exc: BaseException) -> web.Response:
    log.warning("search database unavailable: %r", exc)
    return web.json_response(
        {"error": "the search database is unavailable", "detail": type(exc).__name__},
        status=503,
    )


async def search(request: web.Request) -> web.Response:
    params = parse_params(request.query)
    searcher = request.app[SEARCHER_KEY]
    try:
        pool = await request.app[SEARCH_DB_KEY].pool()
        async with pool.acquire() as conn:
            body = await searcher.search(conn, params)
    except SearchError as err:
        return _error(err)
    except _DB_DOWN as exc:
        return _unavailable(exc)
    for result in body["results"]:
        result["relatedUrl"] = _post_url(body["site"], result["postId"]) + "/related"
    for image in body["images"]:
        image["thumbnailUrl"] = (
            _media_url(body["site"], image["path"]) if image["thumbnail"] else None
        )
    return web.json_response(body)


def _quote(part: str) -> str:
    return quote(part, safe="")


def _post_url(site: str, post_id: str) -> str:
    return f"/posts/{_quote(site)}/{_quote(post_id)}"


def _media_url(site: str, path: str) -> str:
    return f"/media/{_quote(site)}/{'/'.join(_quote(p) for p in path.split('/'))}"


async def sites(request: web.Request) -> web.Response:
    """The sites with a current revision: what the search page offers to search."""
    try:
        pool = await request.app[SEARCH_DB_KEY].pool()
        async with pool.acquire() as conn:
            revisions = await current_revisions(conn)
    except _DB_DOWN as exc:
        return _unavailable(exc)
    return web.json_response(
        {
            "sites": [
                {
                    "site": r.site,
                    "revision": r.revision_id,
                    "counts": r.counts,
                    "committedAt": r.committed_at.isoformat() if r.committed_at else None,
                }
                for r in revisions
            ]
        }
    )


def _no_post(site: str, post_id: str) -> web.Response:
    body = {"error": f"no post {post_id!r} in site {site!r}", "parameter": "postId"}
    return web.json_response(body, status=404)


async def _post_context(
    request: web.Request,
) -> tuple[asyncpg.Pool, str, str, str] | web.Response:
    site, post_id = request.match_info["site"], request.match_info["post_id"]
    try:
        pool = await request.app[SEARCH_DB_KEY].pool()
        async with pool.acquire() as conn:
            revision = await require_revision(conn, site)
            exists = await post_exists(conn, site, revision.revision_id, post_id)
    except SiteNotFound as err:
        return _error(err)
    except _DB_DOWN as exc:
        return _unavailable(exc)
    if not exists:
        return _no_post(site, post_id)
    return pool, site, revision.revision_id, post_id


async def related_posts(request: web.Request) -> web.Response:
    """A post's related posts (at most 5, best first, never the post itself)."""
    return await _post_answer(request, with_post=False)


async def post(request: web.Request) -> web.Response:
    """A post of the current revision with its sections' text: the search page's reader."""
    return await _post_answer(request, with_post=True)


async def _post_answer(request: web.Request, *, with_post: bool) -> web.Response:
    ctx = await _post_context(request)
    if isinstance(ctx, web.Response):
        return ctx
    pool, site, revision, post_id = ctx
    found: dict[str, Any] | None = {}
    async with pool.acquire() as conn:
        if with_post:
            found = await read_post(conn, site, revision, post_id)
        rows = await related.related_posts(conn, site, revision, post_id)
    if found is None:  # pruned between the two reads
        return _no_post(site, post_id)
    for row in rows:
        row["url"] = _post_url(site, row["postId"])
    return web.json_response(
        {"site": site, "revision": revision, "postId": post_id, **found, "related": rows}
    )


async def media(request: web.Request) -> web.StreamResponse:
    """An image's thumbnail (WebP) in the site's current revision."""
    site, path = request.match_info["site"], request.match_info["path"]
    try:
        pool = await request.app[SEARCH_DB_KEY].pool()
        async with pool.acquire() as conn:
            found = await get_thumbnail(conn, site, path)
    except _DB_DOWN as exc:
        return _unavailable(exc)
    if found is None:
        return web.json_response({"error": f"no thumbnail for {path!r} in {site!r}"}, status=404)
    mime, data, revision = found
    etag = f'"{revision}"'
    headers = {
        **_SECURITY_HEADERS,
        "Cache-Control": "public, max-age=300",
        "ETag": etag,
        "Content-Security-Policy": "default-src 'none'",
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=data, content_type=mime, headers=headers)


async def index(request: web.Request) -> web.StreamResponse:
    """The search page (static HTML + JS, no build step)."""
    headers = {**_SECURITY_HEADERS, "Content-Security-Policy": _PAGE_CSP}
    return web.FileResponse(STATIC_DIR / "index.html", headers=headers)
