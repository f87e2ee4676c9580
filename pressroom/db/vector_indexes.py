"""Per-revision HNSW indexes: every loaded revision gets its own partial index on each vector
table, built in bulk once its load has committed, and dropped when the revision is pruned.

Why per revision (issue 12): with one shared index per dimension, only the first load built
it after its COPY; every later load (another site, or the next revision of the same one)
inserted into it row by row, which pgvector does 3-4x slower than a build (10,000 posts: 77 s
for a second site against 43 s for the first). A revision's own index is built from its rows
alone, so every load costs what the first did, and a search inside one revision walks a graph
of that revision's rows only.

Built with `CREATE INDEX CONCURRENTLY` outside any transaction, after the load commits and
before the switch makes the revision current: no lock that would hold up other sites' loads
or searches. A build that died leaves an invalid index, which the next attempt drops and
builds again. `vector_indexes` records each index with its revision, so pruning drops exactly
the revision's indexes and a sweep finds any whose revision is gone.
"""

from __future__ import annotations

import hashlib
import logging

import asyncpg

from pressroom.db.locks import session_lock
from pressroom.db.vectors import check_dims

__all__ = [
    "HNSW_MAX_DIMENSIONS",
    "build_revision_indexes",
    "drop_revision_indexes",
    "revision_index_name",
]

log = logging.getLogger(__name__)

# pgvector 0.6 cannot build an HNSW index on `vector` above 2000 dimensions; larger
# embeddings are still stored and searched, by exact scan.
HNSW_MAX_DIMENSIONS = 2000

# Two concurrent builds on one table deadlock (each CREATE INDEX CONCURRENTLY waits for the
# other's snapshot): builds take turns on this lock. Loads and searches never wait on it.
_BUILD_LOCK = "pressroom.vector-index-build"

# HNSW builds much faster when the graph fits in memory; only the building session gets it.
_INDEX_BUILD_MEMORY = "256MB"

_VECTOR_TABLES = ("sections", "media")


def revision_index_name(table: str, site: str, revision_id: str, dims: int) -> str:
    """A name that fits Postgres' 63 bytes whatever the ids: the table and a digest."""
    digest = hashlib.sha256(f"{site}\0{revision_id}\0{check_dims(dims)}".encode()).hexdigest()
    return f"{table}_hnsw_{digest[:20]}"


def _literal(value: str) -> str:
    # DDL takes no parameters: a standard SQL string literal (standard_conforming_strings is
    # on by default since Postgres 9.1, so only quotes need doubling).
    if "\0" in value:
        raise ValueError("NUL in an identifier value")
    return "'" + value.replace("'", "''") + "'"


async def _state(conn: asyncpg.Connection, name: str) -> bool | None:
    """True: the index exists and is valid; False: a failed build left it invalid; None."""
    valid = await conn.fetchval(
        "SELECT i.indisvalid FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid "
        "WHERE c.relname = $1",
        name,
    )
    return None if valid is None else bool(valid)


async def build_revision_indexes(
    conn: asyncpg.Connection, site: str, revision_id: str, dims: int
) -> list[str]:
    """Build the revision's missing HNSW (cosine) indexes; returns the names built.

    Outside any transaction (CONCURRENTLY cannot run in one). Safe to repeat: a valid index
    is kept, an invalid one (a build that died) is dropped and built again."""
    d = check_dims(dims)
    if d > HNSW_MAX_DIMENSIONS:
        log.warning(
            "no HNSW index for %d dimensions (pgvector limit %d): exact scans",
            d,
            HNSW_MAX_DIMENSIONS,
        )
        return []
    built: list[str] = []
    async with session_lock(conn, _BUILD_LOCK):
        for table in _VECTOR_TABLES:
            name = revision_index_name(table, site, revision_id, d)
            if await _build_one(conn, table, name, site, revision_id, d):
                built.append(name)
    return built


async def _build_one(
    conn: asyncpg.Connection, table: str, name: str, site: str, revision_id: str, d: int
) -> bool:
    state = await _state(conn, name)
    if state:
        return False
    if state is False:
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    await conn.execute(
        "INSERT INTO vector_indexes (index_name, table_name, site_id, revision_id, dims) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (index_name) DO NOTHING",
        name,
        table,
        site,
        revision_id,
        d,
    )
    await conn.execute("SELECT set_config('maintenance_work_mem', $1, false)", _INDEX_BUILD_MEMORY)
    try:
        # The expression and `dims = d` match the search queries' own; the name and table
        # come from a digest and _VECTOR_TABLES, the literals from `_literal`.
        await conn.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING hnsw "
            f"((embedding::vector({d})) vector_cosine_ops) "
            f"WHERE site_id = {_literal(site)} AND revision_id = {_literal(revision_id)} "
            f"AND dims = {d}"
        )
    finally:
        await conn.execute("RESET maintenance_work_mem")
    return True


async def drop_revision_indexes(conn: asyncpg.Connection) -> list[str]:
    """Drop every recorded index whose revision is no longer stored (pruned, or never
    committed); returns their names. Outside any transaction."""
    rows = await conn.fetch(
        """
        SELECT v.index_name FROM vector_indexes AS v
        WHERE NOT EXISTS (SELECT 1 FROM revisions AS r
                          WHERE r.site_id = v.site_id AND r.revision_id = v.revision_id)
        ORDER BY v.index_name
        """
    )
    dropped: list[str] = []
    for row in rows:
        name = row["index_name"]
        # The name was made by revision_index_name and stored by us: a plain identifier.
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        await conn.execute("DELETE FROM vector_indexes WHERE index_name = $1", name)
        dropped.append(name)
    return dropped
