"""`GET /jobs/{jobId}` from the progress memo: complete with no worker running (pending,
running, completed and failed jobs alike), the same as the `progress` query says, with ETags,
`304`s and cache headers, and never a running state kept once the job has completed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pressroom.api.job_status import CLOSED_CACHE_CONTROL, RUNNING_CACHE_CONTROL
from pressroom.api.jobs import read_job
from pressroom.starter.worker import running_worker
from pressroom.workflows.plans import LOAD_DATABASE, TASKS
from pressroom.workflows.process_job import ProcessJob
from pressroom.workflows.progress_memo import DONE_BUCKETS
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError

from pressroom.config import Settings
from pressroom.models import JobProgress
from tests.conftest import EXAMPLE_BLOG
from tests.e2e.jobs.test_replay import replayer
from tests.fakes.ops import Receiver, loopback_settings
from tests.jobs import MAX_PAYLOAD_BYTES, job_request, run_job, start

WAIT_S = 120


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Callbacks go to a loopback receiver; a stopped worker lets go of a held step at once.
    return loopback_settings(settings, worker_shutdown_grace_seconds=0)


async def get(api_url: str, job_id: str, etag: str | None = None) -> aiohttp.ClientResponse:
    headers = {"If-None-Match": etag} if etag else {}
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{api_url}/jobs/{job_id}", headers=headers)
        await resp.read()
        return resp


def same_as_query(view: dict[str, Any], progress: JobProgress) -> None:
    """The view shows what the `progress` query returned (asked while a worker ran)."""
    assert view["task"] == progress.task
    assert view["currentStep"] == progress.current_step
    assert view["steps"] == [s.model_dump() for s in progress.steps]
    assert view["counts"] == progress.counts
    assert view["errors"] == [e.model_dump() for e in progress.errors]
    assert view["errorCount"] == progress.error_count
    assert view["skipped"] == [s.model_dump() for s in progress.skipped]
    assert view["warnings"] == [w.model_dump() for w in progress.warnings]
    assert view["warningCount"] == progress.warning_count
    assert view["revision"] == progress.revision_id
    assert view["result"] == progress.result
    assert view["failure"] == progress.failure
    assert view["callback"] == progress.callback


async def test_a_pending_job_answers_from_its_start_memo(
    api_url: str, settings: Settings, temporal_client: Client
) -> None:
    # No worker polls this test's queue: the job waits, never picked up.
    job_id = await start(temporal_client, settings, job_request(EXAMPLE_BLOG, site="pending"))
    resp = await get(api_url, job_id)
    assert resp.status == 200
    view = await resp.json()
    assert view["state"] == "pending"
    assert view["task"] == "process-all"
    assert [s["name"] for s in view["steps"]] == list(TASKS["process-all"].steps)
    assert {s["state"] for s in view["steps"]} == {"pending"}
    assert resp.headers["Cache-Control"] == RUNNING_CACHE_CONTROL
    again = await get(api_url, job_id, etag=resp.headers["ETag"])
    assert again.status == 304
    assert again.headers["ETag"] == resp.headers["ETag"]
    assert not await again.read()


async def test_a_finished_job_is_complete_with_the_worker_stopped(
    api_url: str, settings: Settings, temporal_client: Client
) -> None:
    receiver = Receiver()
    await receiver.start()
    body = job_request(EXAMPLE_BLOG, site="finished", callback_url=receiver.url)
    try:
        async with running_worker(settings, temporal_client):
            result = await run_job(temporal_client, settings, body)
            handle = temporal_client.get_workflow_handle(body["jobId"])
            progress = await handle.query(ProcessJob.progress)
    finally:
        await receiver.stop()
    assert result["status"] == "completed"
    # The worker is gone: the answer is the memo's alone.
    resp = await get(api_url, body["jobId"])
    assert resp.status == 200
    view = await resp.json()
    assert view["state"] == "completed" and view["closedAt"]
    same_as_query(view, progress)
    assert view["result"] == result  # the workflow's own result
    assert view["counts"]["posts"] > 0 and view["revision"] == result["revision"]
    assert {s["state"] for s in view["steps"]} <= {"completed", "skipped"}
    assert view["callback"]["state"] == "delivered"
    assert resp.headers["Cache-Control"] == CLOSED_CACHE_CONTROL
    assert (await get(api_url, body["jobId"], etag=resp.headers["ETag"])).status == 304
    assert (await get(api_url, body["jobId"], etag='"other"')).status == 200
    # The memo updates around the callback replay (the recorded histories have no callback).
    await replayer().replay_workflow(await handle.fetch_history())


async def test_a_failed_job_is_complete_with_the_worker_stopped(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    body = job_request(tmp_path / "no-such-source", site="failing")
    async with running_worker(settings, temporal_client):
        job_id = await start(temporal_client, settings, body)
        handle = temporal_client.get_workflow_handle(job_id)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        progress = await handle.query(ProcessJob.progress)
    read = await read_job(temporal_client, job_id)
    assert read is not None and read.closed
    view = read.view
    assert view["state"] == "failed"
    same_as_query(view, progress)
    assert view["failure"] and view["result"]["status"] == "failed"
    assert view["steps"][0] == {**view["steps"][0], "name": "fetch", "state": "failed"}


async def wait_for_step(client: Client, job_id: str, step: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        read = await read_job(client, job_id)
        if read is not None and read.view.get("currentStep") == step:
            return read.view
        await asyncio.sleep(0.1)
    raise TimeoutError(f"job {job_id} never reached {step}")


async def test_a_running_job_shows_its_step_with_the_worker_stopped_then_completes(
    api_url: str, settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    held = settings.model_copy(
        update={"fault_hold_step": LOAD_DATABASE, "fault_release_file": release}
    )
    body = job_request(EXAMPLE_BLOG, site="running")
    job_id = body["jobId"]
    async with running_worker(held, temporal_client):
        await start(temporal_client, settings, body)
        await wait_for_step(temporal_client, job_id, LOAD_DATABASE)
        progress = await temporal_client.get_workflow_handle(job_id).query(ProcessJob.progress)
    # The worker is gone, the job is still running: its progress is the memo's.
    resp = await get(api_url, job_id)
    view = await resp.json()
    assert view["state"] == "running" and view["closedAt"] is None
    same_as_query(view, progress)
    steps = {s["name"]: s["state"] for s in view["steps"]}
    assert steps["fetch"] == steps["parse"] == steps["embed-text"] == "completed"
    assert steps[LOAD_DATABASE] == "running"
    assert view["counts"]["posts"] > 0 and view["revision"]
    assert resp.headers["Cache-Control"] == RUNNING_CACHE_CONTROL
    running_etag = resp.headers["ETag"]
    assert (await get(api_url, job_id, etag=running_etag)).status == 304

    # A worker again (the step released): the API shows the job completed, not a kept
    # running answer, and the old ETag no longer matches.
    release.touch()
    async with running_worker(settings, temporal_client):
        result = await temporal_client.get_workflow_handle(job_id).result()
        deadline = time.monotonic() + WAIT_S
        while (view := await (await get(api_url, job_id)).json())["state"] != "completed":
            assert time.monotonic() < deadline, view
            await asyncio.sleep(0.1)
    assert view["result"] == result
    after = await get(api_url, job_id, etag=running_etag)
    assert after.status == 200
    assert after.headers["Cache-Control"] == CLOSED_CACHE_CONTROL


async def test_the_memo_grows_history_by_steps_not_by_batches(
    settings: Settings, temporal_client: Client
) -> None:
    # One section a batch: dozens of embedding batches, yet a bounded number of memo updates.
    settings = settings.model_copy(update={"embed_batch_size": 1})
    body = job_request(EXAMPLE_BLOG, site="memo-history")
    async with running_worker(settings, temporal_client):
        result = await run_job(temporal_client, settings, body)
    history = await temporal_client.get_workflow_handle(body["jobId"]).fetch_history()
    modified = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED
    ]
    batches = sum(
        1
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "embed_batch"
    )
    steps = len(TASKS["process-all"].steps)
    assert batches > 2 * DONE_BUCKETS, batches  # enough batches for the bound to mean something
    assert result["status"] == "completed"
    assert len(modified) <= 2 * steps + 2 * DONE_BUCKETS + 4, len(modified)
    assert max(e.ByteSize() for e in modified) < MAX_PAYLOAD_BYTES // 4
