"""The janitor's Temporal Schedule: every `JANITOR_INTERVAL`, one `PurgeWork` run on the
worker's task queue, which purges work stores kept past `WORK_RETENTION`.

Every worker makes sure the schedule exists when it starts: it creates it, and when another
worker (or its own earlier start) already did, updates it to its own settings, so starting
any number of workers, at once or one by one, leaves one schedule per task queue
(`ScheduleHandle.update` retries when two updates cross). An operator's pause stays.
`JANITOR_INTERVAL=0` deletes it. The id names the task queue, `pressroom-janitor-{queue}`: it
shows in the Temporal UI's Schedules tab and in `temporal schedule describe`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pressroom.workflows.purge_work import PurgeWork
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from pressroom.config import Settings
from pressroom.durations import format_duration

log = logging.getLogger("pressroom.worker")

# After an outage of the Temporal server, one missed run is enough: each run purges all.
MIN_CATCHUP = timedelta(minutes=1)


def janitor_schedule_id(task_queue: str) -> str:
    return f"pressroom-janitor-{task_queue}"


def janitor_schedule(settings: Settings) -> Schedule:
    interval, queue = settings.janitor_interval, settings.temporal_task_queue
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PurgeWork.run, id=janitor_schedule_id(queue), task_queue=queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        # A janitor still walking a large store when the next run is due: skip that one.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(interval, MIN_CATCHUP)
        ),
        state=ScheduleState(
            note=(
                f"Pressroom janitor: purges work stores older than WORK_RETENTION="
                f"{format_duration(settings.work_retention)} (set by the workers of {queue})"
            )
        ),
    )


def _shape(schedule: Schedule) -> tuple[object, ...]:
    """What the workers decide about the schedule (not its state: an operator's pause)."""
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow):
        return (type(action).__name__,)
    return (
        [interval.every for interval in schedule.spec.intervals],
        action.workflow,
        action.task_queue,
        schedule.policy.overlap,
        schedule.policy.catchup_window,
    )


async def ensure_janitor_schedule(client: Client, settings: Settings) -> ScheduleHandle | None:
    """Create or update the task queue's janitor schedule (delete it when the interval is
    0). Returns its handle, or None when there is none."""
    schedule_id = janitor_schedule_id(settings.temporal_task_queue)
    if settings.janitor_interval <= timedelta(0):
        try:
            await client.get_schedule_handle(schedule_id).delete()
            log.info("janitor schedule %s deleted (JANITOR_INTERVAL=0)", schedule_id)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        return None
    wanted = janitor_schedule(settings)
    try:
        return await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:
        pass  # made by another worker, or by this one's earlier start

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        existing = current.description.schedule
        if _shape(existing) == _shape(wanted):
            return None  # already as wanted: no write, no conflict with other workers
        state = existing.state
        return ScheduleUpdate(
            schedule=Schedule(
                action=wanted.action, spec=wanted.spec, policy=wanted.policy, state=state
            )
        )

    handle = client.get_schedule_handle(schedule_id)
    await handle.update(update)
    return handle
