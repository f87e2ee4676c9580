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

__all__ = ["migrate"]

log = logging.getLogger(__name__)

# One lock for every schema change: migrations serialise on it.
_SCHEMA_LOCK = "pressroom.schema"


async def _lock_schema(conn: asyncpg.Connection) -> None:
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
        await _lock_schema(conn)
        if not force and await _schema_applied(conn, digest):
            return  # another process applied it while we waited for the lock
        await conn.execute(sql)
        await conn.execute(
            "INSERT INTO schema_migrations (sha256) VALUES ($1) ON CONFLICT DO NOTHING", digest
        )
