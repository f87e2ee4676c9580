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

from dataclasses import dataclass

from pressroom.db import revisions
from pressroom.models import SwitchSummary
from pressroom.runtime.faults import fault_point
from pressroom.steps.env import DatabaseEnv, RevisionTarget
from pressroom.steps.publish import write_latest

__all__ = ["SwitchInput", "switch_revision"]


@dataclass(frozen=True)
class SwitchInput:
    """After the switch, the site's revisions are pruned to `keep`."""

    target: RevisionTarget
    published_at: str
    keep: int


async def switch_revision(req: SwitchInput, env: DatabaseEnv) -> SwitchSummary:
    """Switch the site to the revision unless a later job's revision is current already.

    `env.before_commit` runs inside the transaction after the pointer moved and before
    `latest.json` is written (fault injection: raising there changes nothing).
    """
    target, progress = req.target, env.progress
    site, revision_id = target.site, target.revision_id
    progress(0, 2, "switching")
    async with env.pool.acquire() as conn:
        try:
            async with conn.transaction():
                previous = await revisions.switch_current(conn, site, revision_id, target.order)
                if env.before_commit is not None:
                    await env.before_commit()
                await fault_point("switch-revision:before-latest")
                written = await write_latest(conn, env.store, target, req.published_at)
        except revisions.RevisionSuperseded as exc:
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
        pruned = await revisions.prune_revisions(conn, site, keep=req.keep)
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
