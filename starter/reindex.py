"""`pressroom reindex`: rebuild a site from the source its current revision came from.

The source and dist folder are read from Postgres (recorded with every revision the site
loaded), unless given. `--force` runs the `reindex` task, which embeds every input again
(cache reads bypassed, cached vectors replaced); without it the job is a plain
`process-all`, reusing every cached embedding.
"""

from __future__ import annotations

import time
from typing import Any

from pressroom.api.requests import default_dist_folder
from pressroom.workflows.plans import REINDEX

from pressroom.config import Settings
from pressroom.db.pool import connect, database_url
from pressroom.db.sites import site_source


class NoRecordedSource(Exception):
    """The site has no current revision with a recorded source: pass one explicitly."""


async def recorded_source(settings: Settings, site: str) -> tuple[str, str] | None:
    """(repoUrl, distFolder) of the site's current revision, from Postgres."""
    conn = await connect(database_url(settings))
    try:
        return await site_source(conn, site)
    finally:
        await conn.close()


async def reindex_request(
    settings: Settings,
    site: str,
    *,
    source: str | None = None,
    dist_folder: str | None = None,
    force: bool = False,
    job_id: str | None = None,
) -> dict[str, Any]:
    """The `POST /process` body of a re-index of `site`."""
    recorded = None
    if source is None or dist_folder is None:
        recorded = await recorded_source(settings, site)
    if source is None:
        if recorded is None:
            raise NoRecordedSource(
                f"site {site!r} has no current revision with a recorded source; pass --source"
            )
        source = recorded[0]
    if dist_folder is None:
        dist_folder = recorded[1] if recorded else default_dist_folder(site)
    return {
        "jobId": job_id or f"reindex-{site}-{int(time.time() * 1000)}",
        "task": REINDEX if force else "process-all",
        "data": {"repoUrl": source, "distFolder": dist_folder, "site": site},
    }
