"""This process's share of the ceiling on requests in flight to a provider.

`FixedShare` is the whole ceiling (one process: tests, the bench, a single worker without a
database). `LeasedShare` splits the ceiling among every worker of a task queue through lease
rows in Postgres (`pressroom.db.leases`): renewed while the process sends requests, expired
a few seconds after a worker dies, so its share returns to the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncpg

from pressroom.config import Settings
from pressroom.db.leases import release_lease, renew_lease
from pressroom.db.pool import database_url

__all__ = ["FixedShare", "LeasedShare", "Share", "leased_share"]

log = logging.getLogger(__name__)

LEASE_TTL_SECONDS = 10.0  # a dead worker's share returns to the others within this


class Share(Protocol):
    async def share(self, want: int) -> int:
        """How many requests this process may have in flight, given it wants `want`."""
        ...

    async def aclose(self) -> None: ...


class FixedShare:
    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)

    async def share(self, want: int) -> int:
        return max(1, min(want, self.ceiling))

    async def aclose(self) -> None:
        return None


class LeasedShare:
    """A lease on `key` in Postgres; `connect` opens a connection (once, kept open)."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        key: str,
        ceiling: int,
        *,
        ttl: float = LEASE_TTL_SECONDS,
    ) -> None:
        self.key = key
        self.ceiling = max(1, ceiling)
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._connect = connect
        self._conn: asyncpg.Connection | None = None
        self._last: int | None = None

    async def share(self, want: int) -> int:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect()
            granted = await renew_lease(
                self._conn, self.key, self.holder, want=want, ceiling=self.ceiling, ttl=self.ttl
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            # The database is the embed step's own dependency too: keep going on the last
            # share (or a small one) and let the step's own database calls report the fault.
            log.warning("provider budget %s: lease not renewed (%s)", self.key, err)
            await self._drop()
            return max(1, min(want, self._last or 1))
        self._last = granted
        return granted

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await release_lease(conn, self.key, self.holder)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass  # the lease expires on its own
        finally:
            await conn.close()


def leased_share(settings: Settings, key: str, ceiling: int) -> LeasedShare:
    """A lease on `key` in the configured database (`DATABASE_URL` or the embedded one)."""

    async def connect() -> asyncpg.Connection:
        # The embedded database's URL may start it: blocking, so off the event loop.
        url = await asyncio.to_thread(database_url, settings)
        return await asyncpg.connect(url)

    return LeasedShare(connect, key, ceiling)
