"""Related posts: for each post of a revision, the posts nearest to it by vector similarity.

A post is represented by the mean of its section vectors (its centroid); two posts are related
by the cosine similarity of their centroids. Computed once per revision, in SQL, inside the
load transaction (`revisions.load_revision` calls `compute_related_posts`), and stored in
`related_posts`, so readers (the API, posts.json) never pay for it. A post is never related
to itself; a post without any embedded section has no related posts and is nobody's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg
import numpy as np

from pressroom.db.vectors import as_numpy, check_dims
from pressroom.search.hits import post_fields

__all__ = ["compute_related_posts", "loaded_revision_related", "related_posts"]

RELATED_LIMIT = 5

# Centroid rows compared at once (a block of similarities is BLOCK x posts float32): 128
# keeps the peak near 50 MB at 10,000 posts where 1024 held ~250 MB.
_BLOCK = 128


def nearest(
    ids: Sequence[str], centroids: np.ndarray, limit: int = RELATED_LIMIT
) -> Iterator[tuple[str, int, str, float]]:
    """(post, rank, related post, cosine similarity) for each post's `limit` nearest others.

    Exact (blocked matrix products, so memory stays at BLOCK x n); ties break by post id.
    A zero centroid has no direction and takes no part.
    """
    norms = np.linalg.norm(centroids, axis=1)
    keep = np.flatnonzero(np.isfinite(norms) & (norms > 0))
    if len(keep) < 2:
        return
    unit = (centroids[keep] / norms[keep, None]).astype(np.float32)
    names = [ids[i] for i in keep]
    k = min(limit, len(keep) - 1)
    for start in range(0, len(keep), _BLOCK):
        sims = unit[start : start + _BLOCK] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # never the post itself
        # The k+1 best (margin for ties at the cut), then an exact, id-tie-broken order.
        top = np.argpartition(-sims, min(k, sims.shape[1] - 1), axis=1)[:, : k + 1]
        for r in rows:
            best = sorted(top[r], key=lambda j: (-sims[r, j], names[j]))[:k]
            for rank, j in enumerate(best, 1):
                yield names[start + r], rank, names[j], float(sims[r, j])


async def compute_related_posts(
    conn: asyncpg.Connection, site: str, revision_id: str, dims: int, *, limit: int = RELATED_LIMIT
) -> int:
    """(Re)compute the related posts of one revision; returns the rows written.

    Postgres averages each post's section vectors (`avg(vector)`); the exact nearest
    neighbours of those centroids come from a blocked matrix product (10,000 posts take
    about a second, where an all-pairs SQL scan takes minutes). Runs inside the caller's
    transaction when there is one (the load's), so the rows appear with the revision.
    """
    d = check_dims(dims)
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM related_posts WHERE site_id = $1 AND revision_id = $2", site, revision_id
        )
        rows = await conn.fetch(
            f"""
            SELECT post_id, avg(embedding::vector({d}))::vector({d}) AS centroid
            FROM sections
            WHERE site_id = $1 AND revision_id = $2 AND dims = {d}
            GROUP BY post_id
            ORDER BY post_id
            """,  # noqa: S608 - d is a checked int
            site,
            revision_id,
        )
        if len(rows) < 2:
            return 0
        ids = [r["post_id"] for r in rows]
        matrix = np.stack([as_numpy(r["centroid"]) for r in rows])
        records = await asyncio.to_thread(
            lambda: [(site, revision_id, *row) for row in nearest(ids, matrix, limit)]
        )
        await conn.copy_records_to_table(
            "related_posts",
            records=records,
            columns=["site_id", "revision_id", "post_id", "rank", "related_post_id", "similarity"],
        )
        return len(records)


async def related_posts(
    conn: asyncpg.Connection, site: str, revision_id: str, post_id: str
) -> list[dict[str, Any]]:
    """One post's related posts, best first: post id, title, url, date, updated, authors,
    summary, tags and similarity."""
    rows = await conn.fetch(
        """
        SELECT r.rank, r.related_post_id AS post_id, r.similarity, p.title, p.url, p.date,
               p.updated, p.authors, p.summary, p.tags
        FROM related_posts AS r
        JOIN posts AS p ON p.site_id = r.site_id AND p.revision_id = r.revision_id
                       AND p.post_id = r.related_post_id
        WHERE r.site_id = $1 AND r.revision_id = $2 AND r.post_id = $3
        ORDER BY r.rank
        """,
        site,
        revision_id,
        post_id,
    )
    return [_related(row) for row in rows]


async def all_related_posts(
    conn: asyncpg.Connection, site: str, revision_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Every post's related posts (for posts.json): {post_id: [{postId, title, url, date,
    updated, authors, summary, tags, similarity}]}."""
    rows = await conn.fetch(
        """
        SELECT r.post_id AS source, r.rank, r.related_post_id AS post_id, r.similarity,
               p.title, p.url, p.date, p.updated, p.authors, p.summary, p.tags
        FROM related_posts AS r
        JOIN posts AS p ON p.site_id = r.site_id AND p.revision_id = r.revision_id
                       AND p.post_id = r.related_post_id
        WHERE r.site_id = $1 AND r.revision_id = $2
        ORDER BY r.post_id, r.rank
        """,
        site,
        revision_id,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["source"], []).append(_related(row))
    return out


def _related(row: asyncpg.Record) -> dict[str, Any]:
    # url, dates, authors and summary bounded like a search hit's: five of them per post.
    return {
        "postId": row["post_id"],
        "title": row["title"],
        **post_fields(
            url=row["url"],
            date=row["date"],
            updated=row["updated"],
            authors=row["authors"],
            summary=row["summary"],
        ),
        "tags": list(row["tags"]),
        "similarity": round(float(row["similarity"]), 6),
    }


async def loaded_revision_related(
    conn: asyncpg.Connection, site: str, revision_id: str
) -> dict[str, list[dict[str, Any]]] | None:
    """`all_related_posts` of a revision the database holds (state `ready`), else None: a
    task that never loaded it (or a superseded load) has no related posts to publish."""
    ready = await conn.fetchval(
        "SELECT state = 'ready' FROM revisions WHERE site_id = $1 AND revision_id = $2",
        site,
        revision_id,
    )
    if not ready:
        return None
    return await all_related_posts(conn, site, revision_id)
