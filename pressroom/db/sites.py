"""Reading a site's revisions: the current one (its id, embedding identity, row counts and
recorded source, as searches, the API's site list and `pressroom reindex` see it), the
output key a stored revision was loaded with, and the counts of one loaded whole."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

__all__ = [
    "Revision",
    "current_revision",
    "current_revisions",
    "loaded_counts",
    "loaded_output_key",
    "site_source",
]


@dataclass(frozen=True)
class Revision:
    """A site's current revision: its id, embedding identity, row counts and the source
    (repoUrl, distFolder) of the job that loaded it (None before sources were recorded)."""

    site: str
    revision_id: str
    provider: str
    model: str
    dimensions: int
    counts: dict[str, int] = field(default_factory=dict)
    committed_at: datetime | None = None
    repo_url: str | None = None
    dist_folder: str | None = None


_CURRENT_SQL = """
    SELECT s.site_id, r.revision_id, r.embedding_provider, r.embedding_model, r.dimensions,
           r.counts::text AS counts, r.committed_at, r.repo_url, r.dist_folder
    FROM sites AS s
    JOIN revisions AS r ON r.site_id = s.site_id AND r.revision_id = s.current_revision
"""


def _revision(row: asyncpg.Record) -> Revision:
    return Revision(
        site=row["site_id"],
        revision_id=row["revision_id"],
        provider=row["embedding_provider"],
        model=row["embedding_model"],
        dimensions=row["dimensions"],
        counts=json.loads(row["counts"]),
        committed_at=row["committed_at"],
        repo_url=row["repo_url"],
        dist_folder=row["dist_folder"],
    )


async def current_revision(conn: asyncpg.Connection, site: str) -> Revision | None:
    """The site's current (fully loaded) revision, or None (no such site, or none loaded)."""
    row = await conn.fetchrow(_CURRENT_SQL + "WHERE s.site_id = $1", site)
    return None if row is None else _revision(row)


async def current_revisions(conn: asyncpg.Connection) -> list[Revision]:
    """Every site's current revision, by site id: the sites there are to search."""
    return [_revision(row) for row in await conn.fetch(_CURRENT_SQL + "ORDER BY s.site_id")]


async def site_source(conn: asyncpg.Connection, site: str) -> tuple[str, str] | None:
    """(repoUrl, distFolder) of the job that loaded the site's current revision, or None
    (no current revision, or one loaded before sources were recorded)."""
    revision = await current_revision(conn, site)
    if revision is None or not revision.repo_url:
        return None
    return revision.repo_url, revision.dist_folder or "dist"


async def loaded_counts(
    conn: asyncpg.Connection, site: str, revision_id: str, output_key: str
) -> dict[str, int] | None:
    """The row counts of a revision loaded whole with this output key; None when it is not
    (never loaded, pruned, or loaded with other output)."""
    raw = await conn.fetchval(
        """
        SELECT counts::text FROM revisions
        WHERE site_id = $1 AND revision_id = $2 AND output_key = $3 AND state = 'ready'
        """,
        site,
        revision_id,
        output_key,
    )
    if raw is None:
        return None
    return {str(k): int(v) for k, v in json.loads(raw).items()}


async def loaded_output_key(conn: asyncpg.Connection, site: str, revision_id: str) -> str | None:
    """The output key a stored revision was loaded with; None when none is stored."""
    return await conn.fetchval(
        "SELECT output_key FROM revisions WHERE site_id = $1 AND revision_id = $2",
        site,
        revision_id,
    )
