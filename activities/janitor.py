"""The janitor's activity: purge the work stores of jobs that finished longer ago than
`WORK_RETENTION`, leaving a tombstone in each.

`PurgeWork` (workflows/purge_work.py) runs it; the worker's janitor schedule
(starter/janitor.py) starts that workflow. What to purge is decided by
`pressroom.steps.retention.purge_expired`; this adds heartbeats (one per job folder) and asks
Temporal whether a marked job runs again (a reset) before its work store goes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pressroom.activities.heartbeat import step_context
from pressroom.workflows import plans
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from pressroom.config import Settings
from pressroom.steps.retention import PurgeCounts, purge_expired
from pressroom.storage.base import Store

log = logging.getLogger("pressroom.activities")


async def job_is_running(client: Client, job_id: str) -> bool:
    """Whether the job's workflow (its id is the job id) runs now; a job Temporal no
    longer knows (past the namespace's retention) does not."""
    try:
        described = await client.get_workflow_handle(job_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status == WorkflowExecutionStatus.RUNNING


class JanitorActivities:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    @activity.defn(name="purge_expired_work")
    async def purge_expired_work(self) -> PurgeCounts:
        client = activity.client()

        async def is_running(job_id: str) -> bool:
            return await job_is_running(client, job_id)

        async with step_context(plans.PURGE_WORK) as progress:
            counts = await purge_expired(
                self.store,
                now=datetime.now(UTC),
                retention=self.settings.work_retention,
                is_running=is_running,
                progress=progress,
            )
        log.info(
            "work stores: %d purged, %d kept, %d running again, %d unmarked, %d purged earlier",
            counts.purged,
            counts.kept,
            counts.running,
            counts.unmarked,
            counts.tombstones,
        )
        return counts

    def all(self) -> list[object]:
        """The bound activity methods, for `Worker(activities=...)`."""
        return [self.purge_expired_work]
