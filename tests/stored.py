"""Test helpers: what Postgres holds for a site (its current revision id, a revision's rows),
and a full-text search through the real searcher."""

from __future__ import annotations

from typing import Any

import asyncpg

from pressroom.db.sites import current_revision
from pressroom.search.params import SearchParams
from pressroom.search.searcher import Searcher


async def current_revision_id(conn: asyncpg.Connection, site: str) -> str | None:
    """The site's current revision id, or None."""
    revision = await current_revision(conn, site)
    return None if revision is None else revision.revision_id


async def revision_counts(conn: asyncpg.Connection, site: str, revision_id: str) -> dict[str, int]:
    """Rows actually stored for a revision: `{"posts", "sections", "media"}`."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM posts WHERE site_id = $1 AND revision_id = $2) AS posts,
               (SELECT count(*) FROM sections WHERE site_id = $1 AND revision_id = $2) AS sections,
               (SELECT count(*) FROM media WHERE site_id = $1 AND revision_id = $2) AS media
        """,
        site,
        revision_id,
    )
    return {k: int(row[k]) for k in ("posts", "sections", "media")}


async def text_search(
    conn: asyncpg.Connection, site: str, query: str, *, limit: int = 10
) -> list[dict[str, Any]]:
    """The results (posts, each with its best sections) of a full-text search of the site's
    current revision, as `GET /search?mode=text` returns them."""
    params = SearchParams(query=query, site=site, mode="text", kind="posts", limit=limit)
    return (await Searcher(None).search(conn, params))["results"]
