"""Restarting finished jobs with `temporal workflow reset` (issue 15), on the real dev server.

Inside WORK_RETENTION a completed job reset to any of its steps (through the API the
`temporal` CLI uses, and with the README's CLI walkthrough) completes again with the same
published bytes and no second revision; past it, once the janitor schedule's
`PurgeWork` run purged the work store, the reset fails at once with `WorkExpired`, naming the
window. Also: a failed job's work store is marked for the janitor too (and its history
replays), and workers starting at once leave one janitor schedule per task queue.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from pressroom.starter.janitor import ensure_janitor_schedule, janitor_schedule_id
from pressroom.starter.worker import running_worker
from pressroom.workflows import plans
from pressroom.workflows.process_job import ProcessJob
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, RetryState
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleHandle,
    WorkflowFailureError,
    WorkflowHistory,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.storage.workstore import WorkKeys
from tests.conftest import EXAMPLE_BLOG, REPO_ROOT
from tests.jobs import job_request, run_job
from tests.published import snapshot
from tests.stored import revision_counts

TEMPORAL_CLI = Path(sys.executable).parent / "temporal"
HISTORIES = REPO_ROOT / "tests" / "histories"
WAIT_S = 120  # a bound on waiting for a run or a schedule's action, not a measurement

# Each step, as the job's progress names it -> the activity that starts it (embed batches
# by kind).
STEPS = {
    plans.FETCH: "fetch_source",
    plans.PARSE: "parse_source",
    plans.EMBED_TEXT: "embed_batch:text",
    plans.EMBED_IMAGES: "embed_batch:media",
    plans.THUMBNAILS: "make_thumbnails",
    plans.LOAD_DATABASE: "load_database",
    plans.BUILD_ARTIFACTS: "build_artifacts",
    plans.PUBLISH: "publish_artifacts",
    plans.SWITCH: "switch_revision",
}


@pytest.fixture
def blog(tmp_path: Path) -> Path:
    """A copy of the example blog: what the job reads stays put while it is reset."""
    dest = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, dest)
    return dest


@pytest_asyncio.fixture
async def db(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(pg_url)
    yield conn
    await conn.close()


def activity_of(event: Any) -> str:
    """`name`, or `embed_batch:{kind}` for an embed batch (its input names the kind)."""
    attrs = event.activity_task_scheduled_event_attributes
    name = attrs.activity_type.name
    if name == "embed_batch":
        return f"{name}:{json.loads(attrs.input.payloads[0].data)['kind']}"
    return name


def reset_points(history: WorkflowHistory) -> dict[str, int]:
    """For each step the run ran: the WorkflowTaskCompleted event just before its first
    ActivityTaskScheduled, which is the event id `temporal workflow reset --event-id` takes
    (the UI shows the same ids)."""
    points: dict[str, int] = {}
    last_task = 0
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            last_task = event.event_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            points.setdefault(activity_of(event), last_task)
    return {step: points[name] for step, name in STEPS.items() if name in points}


async def reset(client: Client, job_id: str, run_id: str, event_id: int) -> str:
    """What `temporal workflow reset --event-id` sends; returns the new run's id."""
    answer = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=job_id, run_id=run_id),
            reason=f"test: reset to event {event_id}",
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
        )
    )
    return answer.run_id


async def revisions(conn: asyncpg.Connection, site: str) -> list[dict[str, Any]]:
    """Every revision row of the site, which one is current, and the rows it holds. Not its
    `committed_at`: a reset to load-database loads the revision again (replacing its rows in
    one transaction, as a retry of the step does), and that is when it committed."""
    rows = await conn.fetch(
        """
        SELECT r.revision_id, r.job_id, r.state, r.counts::text AS counts, r.output_key,
               r.requested_at, r.revision_id = s.current_revision AS current
          FROM revisions AS r JOIN sites AS s ON s.site_id = r.site_id
         WHERE r.site_id = $1 ORDER BY r.revision_id
        """,
        site,
    )
    return [
        {**row, "stored": await revision_counts(conn, site, row["revision_id"])} for row in rows
    ]


@dataclass
class Published:
    files: dict[str, str]  # sha256 by path, latest.json included, the work store left out
    revisions: list[dict[str, Any]]


async def published(settings: Settings, conn: asyncpg.Connection, site: str) -> Published:
    root = Path(settings.artifacts_location)
    return Published(snapshot(root, include_latest=True), await revisions(conn, site))


async def test_a_completed_job_resets_to_each_of_its_steps_with_identical_output(
    settings: Settings, temporal_client: Client, blog: Path, db: asyncpg.Connection
) -> None:
    site = f"reset-{uuid.uuid4().hex[:6]}"
    body = job_request(blog, site=site)
    job_id = body["jobId"]
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, body)
        assert first["status"] == "completed", first
        before = await published(settings, db, site)
        assert len(before.revisions) == 1 and before.revisions[0]["current"]
        assert "dist/latest.json" in before.files
        handle = temporal_client.get_workflow_handle(job_id)
        run_id = (await handle.describe()).run_id
        points = reset_points(await handle.fetch_history())
        assert list(points) == list(STEPS), points  # every step ran, so every one is reset

        # Last step first: a reset to the first step finds nothing changed and takes the
        # short path (publish and switch only), so a run after it lacks the other steps.
        for step in reversed(STEPS):
            # The current run's own event ids, as an operator reads them before each reset.
            history = await temporal_client.get_workflow_handle(
                job_id, run_id=run_id
            ).fetch_history()
            new_run = await reset(temporal_client, job_id, run_id, reset_points(history)[step])
            again = await asyncio.wait_for(
                temporal_client.get_workflow_handle(job_id, run_id=new_run).result(), WAIT_S
            )
            assert again["status"] == "completed", (step, again)
            assert again["revision"] == first["revision"], step
            after = await published(settings, db, site)
            assert after.files == before.files, step
            assert after.revisions == before.revisions, step
            run_id = new_run
        # Each reset run ended like the first: the work store kept, marked anew.
        marker = json.loads(
            (Path(settings.artifacts_location) / WorkKeys(job_id).finished).read_bytes()
        )
        assert marker["status"] == "completed" and marker["retention"] == "7d"


def readme_walkthrough() -> str:
    """The shell block of the README's "Restarting a finished job", as an operator copies it."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Restarting a finished job\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


async def test_the_readme_walkthrough_resets_a_completed_job_to_build_artifacts(
    settings: Settings, temporal_client: Client, blog: Path, db: asyncpg.Connection
) -> None:
    """The operator's path of issue 15, with the `temporal` CLI: a reset to build-artifacts,
    which failed with a missing `parsed/posts.jsonl` while the work store was deleted on
    success. The README's commands as written, the job id filled in."""
    site = f"reset-cli-{uuid.uuid4().hex[:6]}"
    body = job_request(blog, site=site)
    job_id = body["jobId"]
    script = readme_walkthrough()
    assert "JOB=<jobId>" in script and "build_artifacts" in script
    env = {
        **os.environ,
        "PATH": f"{TEMPORAL_CLI.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
    }
    async with running_worker(settings, temporal_client):
        assert (await run_job(temporal_client, settings, body))["status"] == "completed"
        before = await published(settings, db, site)
        handle = temporal_client.get_workflow_handle(job_id)
        first_run = (await handle.describe()).run_id
        event_id = reset_points(await handle.fetch_history())[plans.BUILD_ARTIFACTS]
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-euo", "pipefail", "-c", script.replace("<jobId>", job_id)],
            env=env, capture_output=True, text=True, timeout=WAIT_S, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"to event ID {event_id}" in done.stdout  # the step's event, found as written
        described = await handle.describe()  # the current run: the reset's, ended (--follow)
        assert described.run_id != first_run
        again = await asyncio.wait_for(
            temporal_client.get_workflow_handle(job_id, run_id=described.run_id).result(),
            WAIT_S,
        )
        assert again["status"] == "completed"
        after = await published(settings, db, site)
        assert (after.files, after.revisions) == (before.files, before.revisions)


async def triggered_run(handle: ScheduleHandle, seen: int) -> str:
    """Trigger the schedule and return the workflow id of the run it starts."""
    await handle.trigger()
    deadline = time.monotonic() + WAIT_S
    while True:
        actions = (await handle.describe()).info.recent_actions
        if len(actions) > seen:
            started = actions[-1].action
            assert isinstance(started, ScheduleActionExecutionStartWorkflow)
            return started.workflow_id
        if time.monotonic() > deadline:
            raise TimeoutError("the schedule's action never started")
        await asyncio.sleep(0.1)


async def test_past_the_window_the_janitor_purges_and_a_reset_fails_at_once(
    settings: Settings, temporal_client: Client, blog: Path
) -> None:
    queue = settings.temporal_task_queue
    work = Path(settings.artifacts_location) / "_work"
    # One job finishes under a 1s window, the other under 7d; the janitor (on the 7d
    # worker) runs after the first one's window has passed.
    short = settings.model_copy(
        update={"work_retention": timedelta(seconds=1), "janitor_interval": timedelta(hours=1)}
    )
    week = settings.model_copy(update={"janitor_interval": timedelta(hours=2)})
    expired, inside = (
        job_request(blog, site=f"ret-{name}-{uuid.uuid4().hex[:6]}", dist=name)
        for name in ("expired", "inside")
    )
    async with running_worker(short, temporal_client):
        assert (await run_job(temporal_client, short, expired))["status"] == "completed"
    marker = json.loads((work / expired["jobId"] / "finished.json").read_text())
    assert marker["retention"] == "1s"
    async with running_worker(week, temporal_client):
        assert (await run_job(temporal_client, week, inside))["status"] == "completed"
        # The schedule the first worker created, updated by the second to its interval.
        handle = temporal_client.get_schedule_handle(janitor_schedule_id(queue))
        described = await handle.describe()
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=2)]
        assert described.schedule.policy.overlap.name == "SKIP"

        finished = datetime.fromisoformat(marker["finishedAt"].replace("Z", "+00:00"))
        # The 1s window passes (usually it has, while the second job ran).
        left = timedelta(seconds=1.1) - (datetime.now(UTC) - finished)
        await asyncio.sleep(max(0.0, left.total_seconds()))
        janitor = await triggered_run(handle, len(described.info.recent_actions))
        counts = await asyncio.wait_for(
            temporal_client.get_workflow_handle(janitor).result(), WAIT_S
        )
        assert (counts["purged"], counts["kept"], counts["running"]) == (1, 1, 0), counts

        # Purged down to its tombstone; the job inside its window untouched.
        assert [p.name for p in (work / expired["jobId"]).rglob("*")] == ["purged.json"]
        tombstone = json.loads((work / expired["jobId"] / "purged.json").read_text())
        assert tombstone["retention"] == "1s"
        assert tombstone["finishedAt"] == marker["finishedAt"]
        assert (work / inside["jobId"] / "parsed" / "posts.jsonl").is_file()

        handle_job = temporal_client.get_workflow_handle(expired["jobId"])
        history = await handle_job.fetch_history()
        run_id = (await handle_job.describe()).run_id
        new_run = await reset(
            temporal_client, expired["jobId"], run_id, reset_points(history)[plans.BUILD_ARTIFACTS]
        )
        failed_run = temporal_client.get_workflow_handle(expired["jobId"], run_id=new_run)
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(failed_run.result(), WAIT_S)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "JobFailed"
    assert f"job {expired['jobId']}'s work store was purged at {tombstone['purgedAt']}" in (
        cause.message
    )
    assert "WORK_RETENTION=1s; start a new job instead of resetting this one" in cause.message
    # At once: the build step failed on its first attempt, as not retryable.
    failures = [
        e.activity_task_failed_event_attributes
        for e in (await failed_run.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    ]
    assert len(failures) == 1
    info = failures[0].failure.application_failure_info
    assert (info.type, info.non_retryable, failures[0].retry_state) == (
        plans.WORK_EXPIRED,
        True,
        RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
    )
    # The run's end leaves the tombstone as it was (no marker over it).
    assert [p.name for p in (work / expired["jobId"]).rglob("*")] == ["purged.json"]
    await handle.delete()


async def test_a_failed_job_is_marked_for_the_janitor_and_replays(
    settings: Settings, temporal_client: Client, blog: Path
) -> None:
    failing = settings.model_copy(update={"fault_fail_step": "load-database"})
    body = job_request(blog, site=f"ret-failed-{uuid.uuid4().hex[:6]}")
    async with running_worker(failing, temporal_client):
        with pytest.raises(WorkflowFailureError):
            await run_job(temporal_client, failing, body)
    folder = Path(settings.artifacts_location) / WorkKeys(body["jobId"]).prefix
    marker = json.loads((folder / "finished.json").read_text())
    assert (marker["status"], marker["retention"]) == ("failed", "7d")
    assert (folder / "parsed" / "posts.jsonl").is_file()  # kept for a reset
    history = await temporal_client.get_workflow_handle(body["jobId"]).fetch_history()
    await Replayer(workflows=[ProcessJob], data_converter=pydantic_data_converter).replay_workflow(
        history
    )
    label = os.environ.get("PRESSROOM_RECORD_HISTORIES")  # as tests/e2e/jobs/test_replay.py
    if label:  # a failed job's history, replayed by test_replay.py from then on
        name = "process-all-failed" if label == "1" else f"process-all-failed-{label}"
        (HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_workers_starting_at_once_leave_one_janitor_schedule(
    settings: Settings, temporal_client: Client
) -> None:
    on = settings.model_copy(update={"janitor_interval": timedelta(minutes=30)})
    handles = await asyncio.gather(
        *(ensure_janitor_schedule(temporal_client, on) for _ in range(4))
    )
    schedule_id = janitor_schedule_id(settings.temporal_task_queue)
    assert {h.id for h in handles if h is not None} == {schedule_id}
    # One made it; the others found it made (ScheduleAlreadyRunningError) and as wanted.
    handle = temporal_client.get_schedule_handle(schedule_id)
    described = await handle.describe()
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(minutes=30)]
    assert described.schedule.action.task_queue == settings.temporal_task_queue  # type: ignore[attr-defined]
    # An operator's pause outlives a worker's restart with another interval.
    await handle.pause(note="paused by an operator")
    await ensure_janitor_schedule(
        temporal_client, on.model_copy(update={"janitor_interval": timedelta(hours=3)})
    )
    described = await handle.describe()
    assert described.schedule.state.paused
    assert [i.every for i in described.schedule.spec.intervals] == [timedelta(hours=3)]
    # JANITOR_INTERVAL=0: no schedule.
    assert await ensure_janitor_schedule(temporal_client, settings) is None
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
