"""Word statistics of a loaded revision: how many of its sections hold each word (lexeme).

Written once per revision at load (`ts_stat` over the revision's section tsvectors, about
0.4 s for 30,000 sections) into `revision_terms`; the full-text search reads it to leave a
query's most common words out of the set of sections it ranks (pressroom.search.queries).
A revision loaded before the table existed has no rows there, and is searched unpruned.
"""

from __future__ import annotations

import asyncpg

__all__ = ["backfill_revision_terms", "store_revision_terms"]

# ts_stat takes the text of a query: the ids are quoted by format(%L), never spliced here.
# Two loads may backfill one old revision at once: its counts are the same either way, so
# the second writer keeps the first's rather than failing its load on the key.
_STORE_SQL = """
    INSERT INTO revision_terms (site_id, revision_id, lexeme, sections)
    SELECT $1, $2, word, ndoc
    FROM ts_stat(format('SELECT tsv FROM sections WHERE site_id = %L AND revision_id = %L',
                        $1::text, $2::text))
    ON CONFLICT (site_id, revision_id, lexeme) DO NOTHING
"""


async def store_revision_terms(conn: asyncpg.Connection, site: str, revision_id: str) -> int:
    """Replace the revision's word counts (in the caller's transaction); returns the number
    of distinct words."""
    await conn.execute(
        "DELETE FROM revision_terms WHERE site_id = $1 AND revision_id = $2", site, revision_id
    )
    status = await conn.execute(_STORE_SQL, site, revision_id)
    return int(status.rsplit(" ", 1)[-1])


async def backfill_revision_terms(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """Count the words of every stored revision that has no counts yet (loaded before they
    were kept); returns the (site, revision) pairs counted. Each in its own transaction."""
    rows = await conn.fetch(
        """
        SELECT r.site_id, r.revision_id FROM revisions AS r
        WHERE r.state = 'ready' AND NOT EXISTS (
            SELECT 1 FROM revision_terms AS t
            WHERE t.site_id = r.site_id AND t.revision_id = r.revision_id)
        ORDER BY r.site_id, r.revision_id
        """
    )
    done: list[tuple[str, str]] = []
    for row in rows:
        async with conn.transaction():
            await store_revision_terms(conn, row["site_id"], row["revision_id"])
        done.append((row["site_id"], row["revision_id"]))
    return done
