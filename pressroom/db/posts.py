"""Reading one loaded post back: whether a revision holds it, and its metadata and sections'
text (the search page's reader, `GET /posts/{site}/{postId}`)."""

from __future__ import annotations

from typing import Any

import asyncpg

__all__ = ["post_exists", "read_post"]


async def post_exists(conn: asyncpg.Connection, site: str, revision_id: str, post_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM posts WHERE site_id = $1 AND revision_id = $2 AND post_id = $3",
            site,
            revision_id,
            post_id,
        )
    )


async def read_post(
    conn: asyncpg.Connection, site: str, revision_id: str, post_id: str
) -> dict[str, Any] | None:
    """The post's title, slug, path, url, aliases, date, updated, authors, tags, description,
    summary, reading time and sections (id, anchor, heading, level, text) in order,
    JSON-ready; None when the revision lacks it. Unbounded: the API caps what it repeats."""
    meta = await conn.fetchrow(
        """
        SELECT title, slug, path, url, aliases, date, updated, authors, tags, description,
               summary, reading_time
        FROM posts WHERE site_id = $1 AND revision_id = $2 AND post_id = $3
        """,
        site,
        revision_id,
        post_id,
    )
    if meta is None:
        return None
    sections = await conn.fetch(
        """
        SELECT section_id, anchor, heading, level, content FROM sections
        WHERE site_id = $1 AND revision_id = $2 AND post_id = $3 ORDER BY position
        """,
        site,
        revision_id,
        post_id,
    )
    return {
        "title": meta["title"],
        "slug": meta["slug"],
        "path": meta["path"],
        "url": meta["url"],
        "aliases": list(meta["aliases"]),
        "date": meta["date"].isoformat() if meta["date"] else None,
        "updated": meta["updated"].isoformat() if meta["updated"] else None,
        "authors": list(meta["authors"]),
        "tags": list(meta["tags"]),
        "description": meta["description"],
        "summary": meta["summary"],
        "readingTime": meta["reading_time"],
        "sections": [
            {
                "sectionId": s["section_id"],
                "anchor": s["anchor"],
                "heading": s["heading"],
                "level": s["level"],
                "text": s["content"],
            }
            for s in sections
        ],
    }
