"""Step 8, switch-revision: make a loaded, published revision the site's current one.

Runs after the revision's rows are loaded (not yet current) and its files are published (not
yet pointed to), so a job that fails or is cancelled before here changes neither the site's
current revision in Postgres nor `latest.json`. One transaction holds the site's row lock
while it checks the ordering key, moves the current pointer and writes `latest.json` (under
the `latest.json` advisory lock too), so two jobs' switches never interleave and the later
request wins in both places. Retention pruning follows, in its own transaction.

If the commit itself fails after `latest.json` was written, the activity is retried and
the retry (same ordering key) finishes the switch: the two converge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from pressroom import database
from pressroom.faults import fault_point
from pressroom.models import SwitchSummary
from pressroom.publication import latest_key
from pressroom.revisions import RevisionOrder, latest_document, write_latest_if_newer
from pressroom.steps import Progress
from pressroom.steps.publish import LATEST_CACHE_CONTROL
from pressroom.storage import Store


async def switch_revision(
    store: Store,
    pool: asyncpg.Pool,
    *,
    site: str,
    dist_folder: str,
    revision_id: str,
    order: RevisionOrder,
    published_at: str,
    keep: int,
    progress: Progress,
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> SwitchSummary:
    """Switch `site` to `revision_id` unless a later job's revision is current already.

    `before_commit` runs inside the transaction after the pointer moved and before
    `latest.json` is written (fault injection: raising there changes nothing).
    """
    progress(0, 2, "switching")
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                previous = await database.switch_current(conn, site, revision_id, order)
                if before_commit is not None:
                    await before_commit()
                await fault_point("switch-revision:before-latest")
                doc = latest_document(
                    site=site, revision_id=revision_id, published_at=published_at, order=order
                )
                written = await write_latest_if_newer(
                    conn,
                    store,
                    latest_key(dist_folder),
                    doc,
                    order,
                    cache_control=LATEST_CACHE_CONTROL,
                )
        except database.RevisionSuperseded as exc:
            progress(2, 2, "superseded")
            return SwitchSummary(
                site=site,
                revision_id=revision_id,
                switched=False,
                latest_updated=False,
                superseded=True,
                current_revision=exc.current,
            )
        progress(1, 2, "pruning")
        pruned = await database.prune_revisions(conn, site, keep=keep)
    progress(2, 2, "switched")
    return SwitchSummary(
        site=site,
        revision_id=revision_id,
        switched=True,
        latest_updated=written,
        previous_revision=previous,
        current_revision=revision_id,
        pruned=pruned,
    )
