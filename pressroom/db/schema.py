"""The schema: the migration (schema.sql, applied once per version under an advisory lock) and
the per-dimension HNSW indexes.

Vector columns are untyped (`vector`), so the embedding dimension is a setting: HNSW indexes
are per-dimension expression partial indexes (`embedding::vector(d) ... WHERE dims = d`) and
every vector query repeats that expression and predicate so the planner can use them.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import asyncpg

from pressroom.db.locks import advisory_lock
from pressroom.db.vectors import check_dims

__all__ = ["ensure_vector_indexes", "lock_schema", "migrate", "missing_vector_indexes"]

log = logging.getLogger(__name__)

# One lock for every schema change (migration, HNSW index builds): they serialise on it.
_SCHEMA_LOCK = "pressroom.schema"

# pgvector 0.6 cannot build an HNSW index on `vector` above 2000 dimensions; larger
# embeddings are still stored and searched, by exact scan.
HNSW_MAX_DIMENSIONS = 2000

# HNSW builds much faster when the graph fits in memory; only this transaction gets it.
_INDEX_BUILD_MEMORY = "256MB"

_VECTOR_TABLES = ("sections", "media")


async def lock_schema(conn: asyncpg.Connection) -> None:
    """Hold the schema lock until the caller's transaction ends."""
    await advisory_lock(conn, _SCHEMA_LOCK)


def schema_sql() -> str:
    """The migration script shipped with the package."""
    # Beside this module (package data); `pressroom` is a namespace package, which
    # importlib.resources cannot read through the editable-install finder.
    return Path(__file__).with_name("schema.sql").read_text(encoding="utf-8")


async def _schema_applied(conn: asyncpg.Connection, digest: str) -> bool:
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return False
    return bool(await conn.fetchval("SELECT 1 FROM schema_migrations WHERE sha256 = $1", digest))


async def migrate(conn: asyncpg.Connection, *, force: bool = False) -> None:
    """Apply schema.sql (idempotent) under an advisory lock.

    Skipped when this exact script was already applied (checked without any lock), because
    its CREATE INDEX IF NOT EXISTS still takes a SHARE lock on the tables and would wait
    for a running load. `force=True` re-runs it regardless.
    """
    sql = schema_sql()
    digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
    if not force and await _schema_applied(conn, digest):
        return
    async with conn.transaction():
        await conn.execute("SET LOCAL client_min_messages = warning")  # quiet "already exists"
        await lock_schema(conn)
        if not force and await _schema_applied(conn, digest):
            return  # another process applied it while we waited for the lock
        await conn.execute(sql)
        await conn.execute(
            "INSERT INTO schema_migrations (sha256) VALUES ($1) ON CONFLICT DO NOTHING", digest
        )


def vector_index_name(table: str, dims: int) -> str:
    return f"{table}_embedding_hnsw_{check_dims(dims)}"


async def missing_vector_indexes(conn: asyncpg.Connection, dims: int) -> list[str]:
    """The tables that lack their HNSW index for `dims`."""
    if dims > HNSW_MAX_DIMENSIONS:
        return []
    names = [vector_index_name(t, dims) for t in _VECTOR_TABLES]
    rows = await conn.fetch(
        "SELECT n FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NULL", names
    )
    missing = {r["n"] for r in rows}
    return [t for t in _VECTOR_TABLES if vector_index_name(t, dims) in missing]


async def ensure_vector_indexes(conn: asyncpg.Connection, dims: int) -> list[str]:
    """Create the HNSW (cosine) indexes for `dims` on sections and media if missing.

    Returns the names of the indexes created. Existence is checked first because CREATE
    INDEX IF NOT EXISTS takes a SHARE lock on the table even when the index exists. Creation
    runs under the schema advisory lock; inside a load, take that lock before writing (as
    `revisions.load_revision` does) or two concurrent loads can deadlock on their table locks.
    """
    dims = check_dims(dims)
    if dims > HNSW_MAX_DIMENSIONS:
        log.warning(
            "no HNSW index for %d dimensions (pgvector limit %d): exact scans",
            dims,
            HNSW_MAX_DIMENSIONS,
        )
        return []
    if not await missing_vector_indexes(conn, dims):
        return []
    created: list[str] = []
    async with conn.transaction():
        await lock_schema(conn)
        await conn.execute(
            "SELECT set_config('maintenance_work_mem', $1, true)", _INDEX_BUILD_MEMORY
        )
        for table in await missing_vector_indexes(conn, dims):
            name = vector_index_name(table, dims)
            # Identifiers come from _VECTOR_TABLES and a checked int: nothing user-supplied.
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw "
                f"((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}"
            )
            created.append(name)
    return created
