"""Published folders' claims (`published_folders`): which site owns a folder on a store.

The rules (one site per folder, no folder inside or around another) are
`pressroom.publish.layout`'s; this module only reads and records claims.
"""

from __future__ import annotations

import asyncpg

__all__ = ["overlapping_claims", "record_claim"]

_OVERLAPPING_SQL = """
SELECT folder, site_id FROM published_folders
WHERE location = $1
  AND (folder = $2 OR starts_with($2, folder || '/') OR starts_with(folder, $2 || '/'))
ORDER BY folder
"""


async def overlapping_claims(
    conn: asyncpg.Connection, location: str, folder: str
) -> list[tuple[str, str]]:
    """(folder, site) of every claim on `location` that is `folder`, inside it or around it."""
    return [
        (r["folder"], r["site_id"]) for r in await conn.fetch(_OVERLAPPING_SQL, location, folder)
    ]


async def record_claim(
    conn: asyncpg.Connection, location: str, folder: str, site: str, job_id: str
) -> None:
    """Record `site`'s claim on `folder`; an existing claim on it is left as it is."""
    await conn.execute(
        """
        INSERT INTO published_folders (location, folder, site_id, job_id)
        VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING
        """,
        location,
        folder,
        site,
        job_id,
    )
