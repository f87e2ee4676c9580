"""A database of its own inside the session's Postgres server, for tests that need one empty.

`fresh_database(pg_url)` creates it and yields its URL; on exit it is dropped (connections
forced out). The shared `pg_url` server stays up for the whole session.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` on the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _admin(pg_url: str, sql: str) -> None:
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_database(pg_url: str, prefix: str = "pressroom_test") -> AsyncIterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _admin(pg_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(pg_url, name)
    finally:
        await _admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
