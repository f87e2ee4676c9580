"""A lazily opened, migrated connection pool, so a worker starts even while Postgres is down.

The first step that needs the database opens the pool and runs the idempotent migration;
a failure there is an ordinary retryable activity error.
"""

from __future__ import annotations

import asyncio

import asyncpg

from pressroom.db import database


class Database:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                conn = await asyncpg.connect(self._url)
                try:
                    await database.migrate(conn)
                finally:
                    await conn.close()
                self._pool = await database.create_pool(
                    self._url, min_size=self._min_size, max_size=self._max_size
                )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
