"""Starting a registered site's build: by name (`POST /sites/{site}/builds`, `pressroom sites
build`) or for a push webhook. The registration becomes a `POST /process` body, which goes
through the same contract and start path as any job (`api/jobs.py`); what started it travels
as the job's trigger, and the registry remembers the site's last job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from pressroom.api.jobs import JobConflict, JobEnded, start_job
from pressroom.api.requests import SAFE_ID, job_input
from pressroom.api.site_requests import job_body, job_request
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.registrations import Registration, record_job
from pressroom.models import JobTrigger
from pressroom.publish.latest import iso

__all__ = ["SiteJob", "build_job_id", "push_job_id", "start_site_job"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class SiteJob:
    job_id: str
    created: bool  # False: this job id already named a job (a redelivered hook): nothing new
    state: str  # the job's state when answered
    conflict: str | None = None  # why an existing job was not (re)started, when it was not


def build_job_id(site: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{site}.build.{stamp}"


def push_job_id(site: str, host: str, delivery: str) -> str:
    """The job of one delivery for one site: a redelivery names the same job. A delivery id
    that does not fit a job id as it is (odd characters, too long) is hashed."""
    safe = _UNSAFE.sub("-", delivery).strip("-")
    job_id = f"{site}.{host}.{safe}"
    if safe != delivery or not re.fullmatch(SAFE_ID, job_id):
        digest = hashlib.sha256(delivery.encode("utf-8", "replace")).hexdigest()[:32]
        job_id = f"{site}.{host}.{digest}"
    return job_id


async def start_site_job(
    client: Client,
    settings: Settings,
    conn: asyncpg.Connection,
    registration: Registration,
    job_id: str,
    trigger: JobTrigger,
    *,
    commit: str | None = None,
) -> SiteJob:
    """Start the site's build under `job_id` (raises BadRequest when the registration no
    longer meets the job contract, e.g. a task since removed)."""
    request, parsed = job_request(job_body(registration, job_id, settings, commit=commit))
    job = job_input(request, parsed, settings, trigger)
    try:
        started = await start_job(client, job, settings.temporal_task_queue)
    except JobConflict as conflict:
        # The same id with another body: a redelivery after the registration changed.
        return SiteJob(job_id, False, conflict.state, "started earlier from another request")
    except JobEnded as ended:
        return SiteJob(job_id, False, ended.state, f"already ended {ended.execution}")
    if started.created:
        record = {
            "jobId": job_id,
            "trigger": trigger.as_dict(),
            "startedAt": iso(datetime.now(UTC)),
        }
        await record_job(conn, registration.site, record)
    return SiteJob(job_id, started.created, started.state)
