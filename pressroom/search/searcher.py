"""Search over a site's current revision: full text, vector and hybrid, grouped by post.

`Searcher.search` runs the queries of `queries` in one snapshot, fuses their lists with the
pure `fusion` shared with the search.json reader, and shapes the JSON answer (docs/search.md).
No HTTP here (the API in `api/search.py` and the `pressroom search` command both call it) and
no SQL (that is `queries`).

- **Query vector**: the query is embedded with the revision's own provider, model and
  dimensions; a searcher whose embedder differs falls back to full text (hybrid) or refuses
  (vector, 409).
- **Hybrid**: reciprocal rank fusion at the post level, each post then showing its best
  sections; images fuse by path, and a vector hit without any text match needs
  `image_min_similarity`.
- **Bounded hits**: every field a hit repeats is cut to HIT_CAPS (`hits`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg
from pgvector import Vector

from pressroom.db.sites import Revision, current_revision
from pressroom.db.vectors import to_vector
from pressroom.embeddings.base import Embedder
from pressroom.publish.artifacts import trim_text
from pressroom.search import queries
from pressroom.search.fusion import Fusion, ImageHit, fuse, fuse_images
from pressroom.search.hits import (
    HIT_CAPS,
    MARK_START,
    bounded,
    bounded_snippet,
    bounded_terms,
    bounded_url,
    image_links,
    post_fields,
    snippet_html,
    snippet_text,
)
from pressroom.search.params import EmbeddingMismatch, SearchParams, SiteNotFound, split_query
from pressroom.search.queries import Scope, Terms

__all__ = ["Searcher", "require_revision"]

# Candidates each list contributes before fusion: enough that a post ranked low in one list
# but high in the other still meets itself.
_MIN_CANDIDATES = 100
_CANDIDATES_PER_RESULT = 10


async def require_revision(conn: asyncpg.Connection, site: str) -> Revision:
    """The site's current revision; SiteNotFound (a 404) when it has none."""
    revision = await current_revision(conn, site)
    if revision is None:
        raise SiteNotFound(f"no site {site!r} (or it has no loaded revision)", parameter="site")
    return revision


class Searcher:
    """Runs searches with one embedder and fusion setting; holds no connection of its own."""

    def __init__(self, embedder: Embedder | None, fusion: Fusion | None = None) -> None:
        self.embedder = embedder
        self.fusion = fusion or Fusion()
        # Languages per (site, revision): a loaded revision never changes, so never stale.
        self._langs: dict[tuple[str, str], list[str]] = {}
        self._iterative: bool | None = None  # pgvector walks HNSW past ef_search (0.8+)

    def _embedder_matches(self, revision: Revision) -> str | None:
        """None when the query can be embedded like the revision, else the reason not."""
        e = self.embedder
        if e is None:
            return "no embedder is configured for queries"
        if (e.provider, e.model, e.dimensions) != (
            revision.provider,
            revision.model,
            revision.dimensions,
        ):
            return (
                f"site {revision.site!r} was embedded with {revision.provider}/{revision.model}"
                f" ({revision.dimensions} dimensions); queries here embed with "
                f"{e.provider}/{e.model} ({e.dimensions} dimensions)"
            )
        return None

    async def _languages(self, conn: asyncpg.Connection, revision: Revision) -> list[str]:
        key = (revision.site, revision.revision_id)
        if key not in self._langs:
            if len(self._langs) > 1000:
                self._langs.clear()
            self._langs[key] = await queries.languages(conn, *key)
        return self._langs[key]

    async def _query_vector(
        self, revision: Revision, params: SearchParams
    ) -> tuple[str, Vector | None, list[str]]:
        """The mode actually used, the query's vector (None: text only) and any warning."""
        if params.mode == "text":
            return "text", None, []
        mismatch = self._embedder_matches(revision)
        if mismatch is None:
            assert self.embedder is not None  # noqa: S101 - checked by _embedder_matches
            vector = (await self.embedder.embed([params.query]))[0]
            return params.mode, to_vector(vector, revision.dimensions, "query vector"), []
        if params.mode == "vector":
            raise EmbeddingMismatch(mismatch, parameter="mode")
        return "text", None, [f"{mismatch}: text search only"]

    async def search(
        self, conn: asyncpg.Connection, params: SearchParams, *, raw_snippets: bool = False
    ) -> dict[str, Any]:
        """Run one search; the JSON-ready response (see docs/search.md).
        `raw_snippets` adds each section's `rawSnippet`, with MARK_START/MARK_STOP markers."""
        # One snapshot for the revision lookup and every query.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            body = await self._search(conn, params)
        if not raw_snippets:
            for result in body["results"]:
                for section in result["sections"]:
                    section.pop("rawSnippet", None)
        return body

    async def _search(self, conn: asyncpg.Connection, params: SearchParams) -> dict[str, Any]:
        revision = await require_revision(conn, params.site)
        mode, vector, warnings = await self._query_vector(revision, params)
        include, exclude = split_query(params.query)
        terms = Terms(include, exclude, await self._languages(conn, revision))
        tags = [t.lower() for t in params.tags] or None
        scope = Scope(revision.site, revision.revision_id, tags, params.date_from, params.date_to)
        if scope.filtered:
            passing = await queries.passing_posts(conn, scope, queries.BY_POSTS_MAX + 1)
            if len(passing) <= queries.BY_POSTS_MAX:
                scope = replace(scope, post_ids=passing)
        candidates = max(_MIN_CANDIDATES, _CANDIDATES_PER_RESULT * params.limit)
        text = mode != "vector" and bool(terms.include)
        dims = revision.dimensions
        if self._iterative is None:
            self._iterative = await queries.iterative_scans(conn)
        iterative = self._iterative
        ef = queries.ef_search_for(candidates, filtered=scope.filtered, iterative=iterative)
        await queries.session(conn, ef_search=ef, iterative=iterative)
        results: list[dict[str, Any]] = []
        if params.kind in ("all", "posts"):
            text_hits = (
                await queries.text_hits(conn, scope, terms, candidates, params.limit)
                if text
                else []
            )
            vector_hits = (
                [] if vector is None
                else await queries.vector_hits(
                    conn, scope, dims, vector, candidates, iterative=iterative,
                    exact=revision.counts.get("sections", 0) <= queries.EXACT_SCAN_MAX_ROWS,
                    enough=params.limit,
                )
            )  # fmt: skip
            results = fuse(text_hits, vector_hits, self.fusion, params.limit)
            await _decorate(conn, scope, results, terms)
        images: list[dict[str, Any]] = []
        if params.kind in ("all", "images"):
            text_ranks = (
                await queries.image_text_ranks(conn, scope, terms, candidates) if text else []
            )
            vector_ranks = (
                [] if vector is None
                else await queries.image_vector_ranks(
                    conn, scope, dims, vector, candidates,
                    exact=revision.counts.get("media", 0) <= queries.EXACT_SCAN_MAX_ROWS,
                )
            )  # fmt: skip
            found = fuse_images(
                text_ranks, vector_ranks, self.fusion, params.limit, vector_only=mode == "vector"
            )
            images = await _image_entries(conn, scope, found)
        return self._body(params, revision, mode, results, images, warnings)

    def _body(
        self,
        params: SearchParams,
        revision: Revision,
        mode: str,
        results: list[dict[str, Any]],
        images: list[dict[str, Any]],
        warnings: list[str],
    ) -> dict[str, Any]:
        return {
            "query": params.query,
            "site": revision.site,
            "revision": revision.revision_id,
            "mode": params.mode,
            "modeUsed": mode,
            "kind": params.kind,
            "limit": params.limit,
            "filters": {
                "tags": list(params.tags),
                "from": _iso(params.date_from),
                "to": _iso(params.date_to),
            },
            "fusion": {
                "k": self.fusion.k,
                "textWeight": self.fusion.text_weight,
                "vectorWeight": self.fusion.vector_weight,
            },
            "embedding": {
                "provider": revision.provider,
                "model": revision.model,
                "dimensions": revision.dimensions,
            },
            "results": results,
            "images": images,
            "warnings": warnings,
        }


async def _decorate(
    conn: asyncpg.Connection, scope: Scope, results: list[dict[str, Any]], terms: Terms
) -> None:
    """Add post metadata and each section's heading, anchor and highlighted snippet."""
    if not results:
        return
    section_ids = [s["sectionId"] for r in results for s in r["sections"]]
    details = await queries.section_details(conn, scope, section_ids, terms)
    posts = await queries.post_rows(conn, scope, [r["postId"] for r in results])
    for result in results:
        post = posts[result["postId"]]
        result.update(
            {
                "title": bounded(post["title"], "title"),
                "slug": post["slug"],
                "path": post["path"],
                **post_fields(
                    url=post["url"],
                    date=post["date"],
                    updated=post["updated"],
                    authors=post["authors"],
                    summary=post["summary"],
                ),
                "tags": bounded_terms(post["tags"]),
                "description": bounded(post["description"], "description"),
                "permalink": bounded_url(post["permalink"]),
            }
        )
        for section in result["sections"]:
            section.update(_section_entry(details[section["sectionId"]]))


def _section_entry(row: asyncpg.Record) -> dict[str, Any]:
    # A match in the title or heading alone leaves the body unmarked: then the section's
    # opening says more than ts_headline's first dozen words.
    headline = row["headline"] or ""
    snippet = headline if MARK_START in headline else trim_text(row["plain"], 240)
    # ts_headline counts words, and one "word" can be a megabyte long.
    snippet = bounded_snippet(snippet)
    return {
        "anchor": row["anchor"],
        "heading": bounded(row["heading"], "heading"),
        "level": row["level"],
        "lang": row["lang"],
        "snippet": snippet_text(snippet),
        "snippetHtml": snippet_html(snippet),
        "rawSnippet": snippet,
    }


async def _image_entries(
    conn: asyncpg.Connection, scope: Scope, found: list[ImageHit]
) -> list[dict[str, Any]]:
    if not found:
        return []
    rows = await queries.image_rows(conn, scope, [hit.path for hit in found])
    out = []
    for hit in found:
        row = rows[hit.path]
        out.append(
            {
                "path": hit.path,
                **image_links(row["url"], row["published_url"]),
                "mime": row["mime"],
                "width": row["width"],
                "height": row["height"],
                "alt": bounded_terms(row["alt_texts"], "alt", "alts"),
                "description": bounded(row["description"], "description"),
                "posts": [
                    {**p, "title": bounded(p.get("title"), "title")} if isinstance(p, dict) else p
                    for p in _json_list(row["posts"])[: HIT_CAPS["posts"]]
                ],
                "thumbnail": row["has_thumbnail"],
                "score": hit.score,
                "scores": hit.scores,
            }
        )
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _json_list(text: str) -> list[Any]:
    value = json.loads(text)
    return value if isinstance(value, list) else []
