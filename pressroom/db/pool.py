"""Connections: where the database is, one connection or a pool with the pgvector codec, and
a lazily opened, migrated pool so a worker starts even while Postgres is down.

The first step that needs the database opens the pool and runs the idempotent migration;
a failure there is an ordinary retryable activity error.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

from pressroom.config import Settings
from pressroom.db.schema import migrate

__all__ = ["Database", "connect", "database_url"]


def database_url(settings: Settings) -> str:
    """`DATABASE_URL`, else the embedded Postgres's URL (started on first use: blocking)."""
    if settings.database_url:
        return settings.database_url.get_secret_value()
    from pressroom.runtime.embedded import embedded_postgres_url  # only without DATABASE_URL

    return embedded_postgres_url(settings.pgdata_dir)


async def connect(url: str, *, run_migrations: bool = True, **kw: Any) -> asyncpg.Connection:
    """Open a connection with the pgvector codec registered.

    The codec needs the `vector` type to exist, so the migration (which creates the
    extension) runs first unless `run_migrations=False` (then the schema must exist).
    """
    conn = await asyncpg.connect(url, **kw)
    try:
        if run_migrations:
            await migrate(conn)
        await register_vector(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


async def create_pool(url: str, *, run_migrations: bool = True, **kw: Any) -> asyncpg.Pool:
    """Create a pool whose connections all have the pgvector codec registered.

    Migrates once on a plain connection before the pool opens (see `connect`). A caller's
    own `init` callback still runs, after the codec is registered.
    """
    if run_migrations:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    user_init = kw.pop("init", None)

    async def init(conn: asyncpg.Connection) -> None:
        await register_vector(conn)
        if user_init is not None:
            await user_init(conn)

    return await asyncpg.create_pool(url, init=init, **kw)


class Database:
    """A pool opened (and the schema migrated) on first use, closed by its owner."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        """Where the database is (a session of its own, e.g. a LISTEN, connects here)."""
        return self._url

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(
                    self._url, min_size=self._min_size, max_size=self._max_size
                )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
