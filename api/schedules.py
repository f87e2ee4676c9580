"""A registered site's rebuild schedule as a Temporal Schedule, `site-{site}`.

The schedule's action starts `ProcessJob` with the site's job input (built from its
registration through the job contract, like every other trigger) under the workflow id
prefix `{site}.scheduled`; Temporal appends the scheduled time, and the workflow takes that
id as the job id. Its overlap policy is `skip` or `buffer-one`, so a site's schedule never
runs two builds at once. Temporal keeps the schedule: it shows in the UI's Schedules tab,
`temporal schedule describe --schedule-id site-{site}` reads it, and it outlives the API.

Owns the request shape (`{"cron": ...}` or `{"every": ...}`, jitter, time zone, paused,
overlap) and the create / update / describe / pause / trigger / delete calls.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, Literal

from pressroom.api.requests import BadRequest, check_tree, job_input
from pressroom.api.site_requests import job_body, job_request
from pressroom.workflows.plans import TASKS
from pressroom.workflows.process_job import ProcessJob
from pressroom.workflows.progress_memo import initial_memo
from pressroom.workflows.search_attributes import SITE, STATE, TASK
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from pressroom.config import Settings
from pressroom.db.registrations import Registration
from pressroom.durations import format_duration, parse_duration
from pressroom.models import JobInput, JobTrigger
from pressroom.publish.latest import iso

__all__ = [
    "ScheduleRequest",
    "delete_schedule",
    "describe_schedule",
    "parse_schedule",
    "put_schedule",
    "refresh_schedule",
    "schedule_id",
    "trigger_schedule",
]

OVERLAP = {"skip": ScheduleOverlapPolicy.SKIP, "buffer-one": ScheduleOverlapPolicy.BUFFER_ONE}
MIN_EVERY = timedelta(minutes=1)
RECENT_SHOWN = 5


def schedule_id(site: str) -> str:
    return f"site-{site}"


def _duration(value: str | None) -> timedelta | None:
    return None if value is None else parse_duration(value)


class ScheduleRequest(BaseModel):
    """`PUT /sites/{site}/schedule`: when (`cron` or `every`), and how."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cron: str | None = Field(default=None, min_length=1, max_length=200)
    every: str | None = Field(default=None, max_length=40)
    jitter: str | None = Field(default=None, max_length=40)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    paused: bool = False
    overlap: Literal["skip", "buffer-one"] = "skip"
    note: str | None = Field(default=None, max_length=200)

    @field_validator("every", "jitter")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        _duration(value)  # a ValueError names the accepted forms
        return value

    @field_validator("cron", "timezone", "note")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("must be printable text")
        return value

    def spec(self) -> ScheduleSpec:
        every = _duration(self.every)
        return ScheduleSpec(
            cron_expressions=[self.cron] if self.cron else [],
            intervals=[ScheduleIntervalSpec(every=every)] if every else [],
            jitter=_duration(self.jitter),
            time_zone_name=self.timezone,
        )

    def shown(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def parse_schedule(body: Any) -> ScheduleRequest:
    """The request, or a BadRequest naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    check_tree(body)
    try:
        request = ScheduleRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BadRequest(f"{field}: {message}" if field else message, field=field) from exc
    if (request.cron is None) == (request.every is None):
        raise BadRequest("give exactly one of cron and every", field="cron")
    every, jitter = _duration(request.every), _duration(request.jitter)
    if every is not None and every < MIN_EVERY:
        raise BadRequest(f"every: at least {format_duration(MIN_EVERY)}", field="every")
    if jitter is not None and every is not None and jitter >= every:
        raise BadRequest("jitter: must be shorter than every", field="jitter")
    return request


def scheduled_job(registration: Registration, settings: Settings) -> JobInput:
    """The job input of the site's scheduled builds: its registration through the job
    contract. The job id is a placeholder (the workflow takes its own id); `requested_at`
    is left to the workflow (its start time orders the site's revisions)."""
    site = registration.site
    body = job_body(registration, f"{site}.scheduled", settings)
    request, parsed = job_request(body)
    trigger = JobTrigger(kind="schedule", site=site, schedule=schedule_id(site))
    return job_input(request, parsed, settings, trigger).model_copy(update={"requested_at": None})


def _action(job: JobInput, settings: Settings) -> ScheduleActionStartWorkflow:
    plan = TASKS.get(job.task)
    return ScheduleActionStartWorkflow(
        ProcessJob.run,
        job,
        id=f"{job.site}.scheduled",
        task_queue=settings.temporal_task_queue,
        memo=initial_memo(
            job.job_id,
            job.task,
            plan.steps if plan else (),
            job.trigger.as_dict() if job.trigger else None,
        ),
        typed_search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(TASK, job.task),
                SearchAttributePair(SITE, job.site),
                SearchAttributePair(STATE, "pending"),
            ]
        ),
        static_summary=f"scheduled {job.task} {job.site} from {job.repo_url[:200]}",
    )


def _schedule(job: JobInput, request: ScheduleRequest, settings: Settings) -> Schedule:
    return Schedule(
        action=_action(job, settings),
        spec=request.spec(),
        policy=SchedulePolicy(overlap=OVERLAP[request.overlap]),
        state=ScheduleState(paused=request.paused, note=request.note),
    )


async def put_schedule(
    client: Client, settings: Settings, registration: Registration, request: ScheduleRequest
) -> bool:
    """Create the site's schedule or replace its spec, policy and state; True when created.
    A spec Temporal refuses (a bad cron, an unknown time zone) is a BadRequest."""
    schedule = _schedule(scheduled_job(registration, settings), request, settings)
    sid = schedule_id(registration.site)
    try:
        try:
            await client.create_schedule(sid, schedule)
            return True
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(sid).update(lambda _: ScheduleUpdate(schedule))
            return False
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            zone = request.timezone is not None and "time zone" in err.message
            field = "timezone" if zone else "cron" if request.cron else "every"
            reason = f"{field}: Temporal refused the schedule: {err.message}"
            raise BadRequest(reason, field=field) from None
        raise


async def refresh_schedule(client: Client, settings: Settings, registration: Registration) -> bool:
    """Point an existing schedule's action at the site's current registration (its spec and
    state unchanged); False when the site has no schedule."""
    job = scheduled_job(registration, settings)

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.action = _action(job, settings)
        return ScheduleUpdate(schedule)

    return await _found(client.get_schedule_handle(schedule_id(registration.site)).update(update))


async def _describe(client: Client, site: str) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(schedule_id(site)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _iso(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _spec_view(spec: ScheduleSpec) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if spec.intervals:
        view["every"] = [format_duration(i.every) for i in spec.intervals]
    if spec.calendars:
        # Temporal keeps a cron string as calendar ranges: shown as it holds them.
        view["calendars"] = [
            {
                name: [
                    (r.start, r.end, r.step) if r.end > r.start else r.start
                    for r in getattr(c, name)
                ]
                for name in ("second", "minute", "hour", "day_of_month", "month", "day_of_week")
            }
            for c in spec.calendars
        ]
    if spec.cron_expressions:
        view["cron"] = list(spec.cron_expressions)
    if spec.jitter:
        view["jitter"] = format_duration(spec.jitter)
    if spec.time_zone_name:
        view["timezone"] = spec.time_zone_name
    return view


async def describe_schedule(
    client: Client, settings: Settings, site: str, requested: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The schedule as Temporal holds it (None: the site has none): spec, overlap, paused,
    the next runs, the recent and running ones; `requested` is what was last set."""
    desc = await _describe(client, site)
    if desc is None:
        return None
    info, schedule = desc.info, desc.schedule
    overlap = schedule.policy.overlap
    view: dict[str, Any] = {
        "scheduleId": desc.id,
        "spec": _spec_view(schedule.spec),
        "overlap": next((k for k, v in OVERLAP.items() if v == overlap), overlap.name.lower()),
        "paused": schedule.state.paused,
        "note": schedule.state.note or None,
        "nextRuns": [_iso(t) for t in info.next_action_times[:3]],
        "recentRuns": [
            {
                "scheduledAt": _iso(a.scheduled_at),
                "startedAt": _iso(a.started_at),
                "jobId": getattr(a.action, "workflow_id", None),
            }
            for a in info.recent_actions[-RECENT_SHOWN:]
        ],
        "running": [a.workflow_id for a in info.running_actions],
        "runs": info.num_actions,
        "skippedOverlap": info.num_actions_skipped_overlap,
        "temporalUi": (
            f"{settings.temporal_ui_url.rstrip('/')}/namespaces/"
            f"{settings.temporal_namespace}/schedules/{desc.id}"
        ),
    }
    if requested is not None:
        view["requested"] = requested
    return view


async def _found(call: Awaitable[Any]) -> bool:
    """Whether the schedule the call acts on exists (Temporal's NOT_FOUND: False)."""
    try:
        await call
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def trigger_schedule(client: Client, site: str) -> bool:
    """Run the schedule's action now, under its overlap policy; False when there is none."""
    return await _found(client.get_schedule_handle(schedule_id(site)).trigger())


async def delete_schedule(client: Client, site: str) -> bool:
    """Delete the site's schedule (its running build, if any, goes on); False when none."""
    return await _found(client.get_schedule_handle(schedule_id(site)).delete())
