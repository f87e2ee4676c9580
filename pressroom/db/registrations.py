"""Registered sites in Postgres (`site_registry`): what a site builds from, what last started
a build for it, and the schedule last set for it (the schedule itself is Temporal's).

A registration is stored as the API shows it (`spec`, URLs redacted) beside its sealed parts
(`sealed`: the original repo and callback URLs when they carry credentials, the webhook
secret), and the repository key push webhooks look it up by. Validation lives with the API
(`api/site_requests.py`); this module only reads and writes rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

__all__ = [
    "Registration",
    "delete_registration",
    "get_registration",
    "list_registrations",
    "put_registration",
    "record_delivery",
    "record_job",
    "record_schedule",
    "registrations_for_repository",
]


@dataclass(frozen=True)
class Registration:
    site: str
    spec: dict[str, Any]  # camelCase fields as `GET /sites/{site}` shows them
    sealed: dict[str, str]  # repoUrl / callbackUrl originals with credentials, webhookSecret
    repository_key: str
    created_at: datetime
    updated_at: datetime
    last_job: dict[str, Any] | None = None
    last_delivery: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None


_SELECT = """
    SELECT site_id, spec::text AS spec, sealed::text AS sealed, repository_key, created_at,
           updated_at, last_job::text AS last_job, last_delivery::text AS last_delivery,
           schedule::text AS schedule
    FROM site_registry
"""


def _registration(row: asyncpg.Record) -> Registration:
    def loads(value: str | None) -> Any:
        return None if value is None else json.loads(value)

    return Registration(
        site=row["site_id"],
        spec=json.loads(row["spec"]),
        sealed=json.loads(row["sealed"]),
        repository_key=row["repository_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_job=loads(row["last_job"]),
        last_delivery=loads(row["last_delivery"]),
        schedule=loads(row["schedule"]),
    )


async def put_registration(
    conn: asyncpg.Connection,
    site: str,
    spec: dict[str, Any],
    sealed: dict[str, str],
    repository_key: str,
) -> tuple[Registration, bool]:
    """Create or replace the site's registration; (the row, whether it was created)."""
    created = await conn.fetchval(
        """
        INSERT INTO site_registry AS r (site_id, spec, sealed, repository_key)
        VALUES ($1, $2::jsonb, $3::jsonb, $4)
        ON CONFLICT (site_id) DO UPDATE
            SET spec = EXCLUDED.spec, sealed = EXCLUDED.sealed,
                repository_key = EXCLUDED.repository_key, updated_at = now()
        RETURNING (xmax = 0)
        """,
        site,
        json.dumps(spec),
        json.dumps(sealed),
        repository_key,
    )
    row = await conn.fetchrow(_SELECT + "WHERE site_id = $1", site)
    return _registration(row), bool(created)


async def get_registration(conn: asyncpg.Connection, site: str) -> Registration | None:
    row = await conn.fetchrow(_SELECT + "WHERE site_id = $1", site)
    return None if row is None else _registration(row)


async def list_registrations(conn: asyncpg.Connection) -> list[Registration]:
    rows = await conn.fetch(_SELECT + "ORDER BY site_id")
    return [_registration(row) for row in rows]


async def registrations_for_repository(
    conn: asyncpg.Connection, repository_keys: list[str]
) -> list[Registration]:
    """The sites registered for any of these repository keys (a push names its repository
    several ways: clone URL, web URL, SSH URL)."""
    rows = await conn.fetch(
        _SELECT + "WHERE repository_key = ANY($1::text[]) ORDER BY site_id",
        repository_keys,
    )
    return [_registration(row) for row in rows]


async def delete_registration(conn: asyncpg.Connection, site: str) -> bool:
    deleted = await conn.fetchval("DELETE FROM site_registry WHERE site_id = $1 RETURNING 1", site)
    return deleted == 1


async def record_job(conn: asyncpg.Connection, site: str, job: dict[str, Any]) -> None:
    """The job last started for the site by name or webhook ({jobId, trigger, startedAt})."""
    await conn.execute(
        "UPDATE site_registry SET last_job = $2::jsonb WHERE site_id = $1", site, json.dumps(job)
    )


async def record_delivery(conn: asyncpg.Connection, site: str, delivery: dict[str, Any]) -> None:
    """The last webhook delivery that named the site, and what came of it."""
    await conn.execute(
        "UPDATE site_registry SET last_delivery = $2::jsonb WHERE site_id = $1",
        site,
        json.dumps(delivery),
    )


async def record_schedule(
    conn: asyncpg.Connection, site: str, schedule: dict[str, Any] | None
) -> None:
    """The schedule as last set through Pressroom (None: deleted)."""
    await conn.execute(
        "UPDATE site_registry SET schedule = $2::jsonb WHERE site_id = $1",
        site,
        None if schedule is None else json.dumps(schedule),
    )
