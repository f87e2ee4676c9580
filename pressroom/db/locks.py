"""Advisory locks: work that must not interleave across processes (the schema migration, one
`latest.json`, one published folder or revision) serialises on a name, until the caller's
transaction ends."""

from __future__ import annotations

import asyncpg

__all__ = ["advisory_lock"]


async def advisory_lock(conn: asyncpg.Connection, name: str) -> None:
    """Hold the lock on `name` until the caller's transaction ends (waiting for it if taken)."""
    if not conn.is_in_transaction():
        raise RuntimeError(f"the lock on {name!r} needs a transaction (it lasts until it ends)")
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
