"""Per-revision search indexes: every loaded revision gets its own partial indexes, an HNSW
graph for vectors and a GIN index for full text on each of `sections` and `media`, built in
bulk once its load has committed, and dropped when the revision is pruned.

Why per revision:
- *Loads* (issue 12): with one shared HNSW index per dimension, every load after the first
  inserted into it row by row, 3-4x slower than a build. A revision's own index is built
  from its rows alone, so every load costs what the first did.
- *Searches* (issue 13): a search looks inside one revision. With shared indexes, a term or
  a vector matched every site's and every kept revision's rows, which were then filtered
  away (HNSW even lost the revision's own rows to its candidate limit). A revision's own
  index holds only what the search may return. The search's queries repeat each index's
  predicate (`site_id`, `revision_id`, `dims`) and are planned with their parameters' values
  (`plan_cache_mode = force_custom_plan`, pressroom.search.queries), so the planner can prove
  that the partial index applies.

Built with `CREATE INDEX CONCURRENTLY` outside any transaction, after the load commits and
before the switch makes the revision current: no lock that would hold up other sites' loads
or searches. A build that died leaves an invalid index, which the next attempt drops and
builds again. `revision_indexes` records each index with its revision, so pruning drops
exactly the revision's indexes and a sweep finds any whose revision is gone; revisions loaded
before an index kind existed get theirs from `backfill_revision_indexes`, which every load
runs after building its own.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import asyncpg

from pressroom.db.locks import session_lock
from pressroom.db.vectors import check_dims

__all__ = [
    "HNSW_MAX_DIMENSIONS",
    "backfill_revision_indexes",
    "build_revision_indexes",
    "drop_revision_indexes",
    "revision_index_name",
    "revision_index_statements",
    "text_index_name",
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

_TABLES = ("sections", "media")


@dataclass(frozen=True)
class _Index:
    table: str
    name: str
    using: str  # the method and its column or expression
    predicate: str  # beyond site and revision


def revision_index_name(table: str, site: str, revision_id: str, dims: int) -> str:
    """The HNSW index's name: the table and a digest, which fits Postgres' 63 bytes."""
    digest = hashlib.sha256(f"{site}\0{revision_id}\0{check_dims(dims)}".encode()).hexdigest()
    return f"{table}_hnsw_{digest[:20]}"


def text_index_name(table: str, site: str, revision_id: str) -> str:
    """The full-text (GIN) index's name."""
    digest = hashlib.sha256(f"{site}\0{revision_id}".encode()).hexdigest()
    return f"{table}_gin_{digest[:20]}"


def _indexes(site: str, revision_id: str, dims: int) -> list[_Index]:
    d = check_dims(dims)
    out: list[_Index] = []
    if d <= HNSW_MAX_DIMENSIONS:
        out += [
            # The expression and `dims = d` match the search queries' own.
            _Index(
                t,
                revision_index_name(t, site, revision_id, d),
                f"hnsw ((embedding::vector({d})) vector_cosine_ops)",
                f" AND dims = {d}",
            )
            for t in _TABLES
        ]
    else:
        log.warning(
            "no HNSW index for %d dimensions (pgvector limit %d): exact scans",
            d,
            HNSW_MAX_DIMENSIONS,
        )
    out += [_Index(t, text_index_name(t, site, revision_id), "gin (tsv)", "") for t in _TABLES]
    return out


def _literal(value: str) -> str:
    # DDL takes no parameters: a standard SQL string literal (standard_conforming_strings is
    # on by default since Postgres 9.1, so only quotes need doubling).
    if "\0" in value:
        raise ValueError("NUL in an identifier value")
    return "'" + value.replace("'", "''") + "'"


def _create_sql(index: _Index, site: str, revision_id: str, *, concurrently: bool) -> str:
    # The name comes from a digest, the table from _TABLES, the literals from _literal.
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}IF NOT EXISTS {index.name} ON {index.table} USING {index.using} "
        f"WHERE site_id = {_literal(site)} AND revision_id = {_literal(revision_id)}"
        f"{index.predicate}"
    )


def revision_index_statements(site: str, revision_id: str, dims: int) -> list[tuple[str, str, str]]:
    """(index name, table, CREATE INDEX IF NOT EXISTS statement) of each index the revision
    gets, built in place (not CONCURRENTLY): for a script that loads the revision into a
    database of its own (pressroom/db/export.py)."""
    return [
        (i.name, i.table, _create_sql(i, site, revision_id, concurrently=False))
        for i in _indexes(site, revision_id, dims)
    ]


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
    """Build the revision's missing indexes (HNSW cosine, then GIN full text, each on
    sections and media); returns the names built.

    Outside any transaction (CONCURRENTLY cannot run in one). Safe to repeat: a valid index
    is kept, an invalid one (a build that died) is dropped and built again."""
    wanted = _indexes(site, revision_id, dims)
    built: list[str] = []
    async with session_lock(conn, _BUILD_LOCK):
        for index in wanted:
            if await _build_one(conn, index, site, revision_id, check_dims(dims)):
                built.append(index.name)
    return built


async def _build_one(
    conn: asyncpg.Connection, index: _Index, site: str, revision_id: str, d: int
) -> bool:
    state = await _state(conn, index.name)
    if state:
        return False
    if state is False:
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
    await conn.execute(
        "INSERT INTO revision_indexes (index_name, table_name, site_id, revision_id, dims) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (index_name) DO NOTHING",
        index.name,
        index.table,
        site,
        revision_id,
        d,
    )
    await conn.execute("SELECT set_config('maintenance_work_mem', $1, false)", _INDEX_BUILD_MEMORY)
    try:
        await conn.execute(_create_sql(index, site, revision_id, concurrently=True))
    finally:
        await conn.execute("RESET maintenance_work_mem")
    return True


async def backfill_revision_indexes(conn: asyncpg.Connection) -> list[str]:
    """Build whatever indexes the stored revisions lack (revisions loaded before an index
    kind existed, or whose build died); returns the names built. Outside any transaction."""
    rows = await conn.fetch(
        "SELECT site_id, revision_id, dimensions FROM revisions WHERE state = 'ready' "
        "ORDER BY site_id, revision_id"
    )
    have = {
        r["index_name"]
        for r in await conn.fetch(
            "SELECT r.index_name FROM revision_indexes AS r "
            "JOIN pg_class AS c ON c.relname = r.index_name "
            "JOIN pg_index AS i ON i.indexrelid = c.oid WHERE i.indisvalid"
        )
    }
    built: list[str] = []
    for row in rows:
        site, revision_id, dims = row["site_id"], row["revision_id"], row["dimensions"]
        if {i.name for i in _indexes(site, revision_id, dims)} <= have:
            continue
        built += await build_revision_indexes(conn, site, revision_id, dims)
    if built:
        log.info("built %d index(es) missing from earlier revisions", len(built))
    return built


async def drop_revision_indexes(conn: asyncpg.Connection) -> list[str]:
    """Drop every recorded index whose revision is no longer stored (pruned, or never
    committed); returns their names. Outside any transaction."""
    rows = await conn.fetch(
        """
        SELECT v.index_name FROM revision_indexes AS v
        WHERE NOT EXISTS (SELECT 1 FROM revisions AS r
                          WHERE r.site_id = v.site_id AND r.revision_id = v.revision_id)
        ORDER BY v.index_name
        """
    )
    dropped: list[str] = []
    for row in rows:
        name = row["index_name"]
        # The name was made by revision_index_name or text_index_name and stored by us: a
        # plain identifier.
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        await conn.execute("DELETE FROM revision_indexes WHERE index_name = $1", name)
        dropped.append(name)
    return dropped
