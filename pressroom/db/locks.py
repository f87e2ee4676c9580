"""Advisory locks: work that must not interleave across processes (the schema migration, one
`latest.json`, one published folder or revision) serialises on a name, until the caller's
transaction ends; work that cannot run in a transaction (index builds) holds a session lock
for the length of a block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

__all__ = ["advisory_lock", "session_lock"]

_POLL_SECONDS = 0.05


async def advisory_lock(conn: asyncpg.Connection, name: str) -> None:
    """Hold the lock on `name` until the caller's transaction ends (waiting for it if taken)."""
    if not conn.is_in_transaction():
        raise RuntimeError(f"the lock on {name!r} needs a transaction (it lasts until it ends)")
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)


@asynccontextmanager
async def session_lock(conn: asyncpg.Connection, name: str) -> AsyncIterator[None]:
    """Hold the lock on `name` for the block, outside any transaction.

    Taken by polling, never by a blocking wait: a session waiting inside
    `pg_advisory_lock` has a statement (and its snapshot) open, which a `CREATE INDEX
    CONCURRENTLY` in the holder would wait for in turn: a deadlock."""
    # Polling a lock held in another process: no event of ours could say it is free.
    while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name):  # noqa: ASYNC110
        await asyncio.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", name)
