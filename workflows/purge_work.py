"""`PurgeWork`: the janitor. One activity purges the work stores of jobs finished longer ago
than `WORK_RETENTION`, and the workflow returns its counts.

Started by the worker's janitor schedule (starter/janitor.py), or by hand with
`temporal workflow start --type PurgeWork --task-queue <queue>`. Deterministic only.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pressroom.activities.janitor import JanitorActivities
    from pressroom.workflows import plans

    from pressroom.steps.retention import PurgeCounts


@workflow.defn(name="PurgeWork")
class PurgeWork:
    @workflow.run
    async def run(self) -> PurgeCounts:
        policy = plans.JANITOR_POLICY
        return await workflow.execute_activity_method(
            JanitorActivities.purge_expired_work,
            start_to_close_timeout=policy.start_to_close,
            heartbeat_timeout=plans.JANITOR_HEARTBEAT,
            retry_policy=policy.retry,
            cancellation_type=policy.cancellation,
        )
