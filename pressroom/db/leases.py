"""Shares of a budget split among processes: leases with expiry in the `budget_leases` table.

A holder (one worker process) renews its lease on a budget key (e.g. the task queue and a
provider's model) every few seconds, saying how much it wants; it is granted at most what the
other live holders leave of the ceiling, and never less than a fair share (the ceiling split
among the live holders), so a newcomer is not starved by holders that grew first: they shrink
to the rest at their next renewal. A holder that stops renewing (a dead worker) loses its
lease when it expires. Renewals of one key are serialised by a transaction-scoped advisory
lock, so two holders never both take the same free room.

The table is part of the schema (schema.sql); its rows are transient.
"""

from __future__ import annotations

import asyncpg

__all__ = ["release_lease", "renew_lease"]

_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('budget-lease:' || $1, 0))"
_EXPIRE_SQL = "DELETE FROM budget_leases WHERE key = $1 AND expires_at < now()"
_OTHERS_SQL = """
    SELECT count(*)::int AS holders, coalesce(sum(granted), 0)::int AS taken
    FROM budget_leases WHERE key = $1 AND holder <> $2
"""
_UPSERT_SQL = """
    INSERT INTO budget_leases (key, holder, granted, expires_at)
    VALUES ($1, $2, $3, now() + make_interval(secs => $4))
    ON CONFLICT (key, holder)
    DO UPDATE SET granted = EXCLUDED.granted, expires_at = EXCLUDED.expires_at
"""
_RELEASE_SQL = "DELETE FROM budget_leases WHERE key = $1 AND holder = $2"


async def renew_lease(
    conn: asyncpg.Connection, key: str, holder: str, *, want: int, ceiling: int, ttl: float
) -> int:
    """Renew (or take) `holder`'s lease on `key` for `ttl` seconds; returns the share granted:
    min(want, max(fair share, what the other live holders leave of `ceiling`)), at least 1."""
    async with conn.transaction():
        await conn.execute(_LOCK_SQL, key)
        await conn.execute(_EXPIRE_SQL, key)
        row = await conn.fetchrow(_OTHERS_SQL, key, holder)
        holders, taken = (row["holders"], row["taken"]) if row else (0, 0)
        fair = max(1, ceiling // (holders + 1))
        granted = max(1, min(want, max(fair, ceiling - taken)))
        await conn.execute(_UPSERT_SQL, key, holder, granted, float(ttl))
    return granted


async def release_lease(conn: asyncpg.Connection, key: str, holder: str) -> None:
    await conn.execute(_RELEASE_SQL, key, holder)
