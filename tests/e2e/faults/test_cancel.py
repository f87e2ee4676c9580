"""Cancelling a job (`DELETE /jobs/{jobId}`, `pressroom cancel`): the running step stops at its
next heartbeat, the database load's transaction rolls back, the work store is marked for the
janitor (or with WORK_RETENTION=0 deleted), the
site's current revision and `latest.json` are untouched, the callback says `cancelled`, and
the workflow ends CANCELLED."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from pressroom.starter.worker import running_worker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from pressroom.config import Settings
from pressroom.db.pool import connect
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.ops import Receiver, loopback_settings, process_env, run_cli, wait_for_activity
from tests.jobs import job_request, run_job, start
from tests.stored import current_revision_id, revision_counts


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return loopback_settings(settings)


def changed_copy(tmp_path: Path) -> Path:
    """The example blog with one post edited: a different revision."""
    src = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, src)
    post = src / "gear-list.md"
    post.write_text(post.read_text() + "\n\n## Added later\n\nA section the first run lacks.\n")
    return src


async def wait_for_log(caplog: pytest.LogCaptureFixture, text: str) -> None:
    deadline = time.monotonic() + 120
    while not any(text in r.getMessage() for r in caplog.records):
        if time.monotonic() > deadline:
            raise TimeoutError(f"never logged {text!r}")
        await asyncio.sleep(0.1)


async def test_delete_cancels_a_job_mid_load_and_leaves_the_site_as_it_was(
    settings: Settings,
    temporal_client: Client,
    api_url: str,
    tmp_path: Path,
    pg_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pressroom.runtime.faults")
    site = f"cancel-{uuid.uuid4().hex[:8]}"
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(EXAMPLE_BLOG, site=site))
    assert first["status"] == "completed"
    latest = Path(settings.artifacts_location) / "dist" / "latest.json"
    latest_before = latest.read_bytes()

    receiver = Receiver()
    await receiver.start()
    held = settings.model_copy(update={"fault_hold_step": "load-database:mid-copy"})
    try:
        async with running_worker(held, temporal_client):
            body = job_request(changed_copy(tmp_path), site=site, callback_url=receiver.url)
            job_id = await start(temporal_client, settings, body)
            handle = temporal_client.get_workflow_handle(job_id)
            # Inside the load transaction: posts copied, the sections COPY open.
            await wait_for_log(caplog, "holding at load-database:mid-copy")
            async with aiohttp.ClientSession() as http:
                async with http.delete(f"{api_url}/jobs/{job_id}") as resp:
                    assert resp.status == 202, await resp.text()
                    assert (await resp.json())["status"] == "cancelling"
                with pytest.raises(WorkflowFailureError) as failure:
                    await asyncio.wait_for(handle.result(), timeout=120)
                assert isinstance(failure.value.cause, CancelledError)
                async with http.get(f"{api_url}/jobs/{job_id}") as resp:
                    view = await resp.json()
                async with http.delete(f"{api_url}/jobs/{job_id}") as resp:
                    assert resp.status == 409
                    assert (await resp.json())["state"] == "cancelled"
                async with http.delete(f"{api_url}/jobs/no-such-job-{job_id}") as resp:
                    assert resp.status == 404
    finally:
        await receiver.stop()

    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.CANCELED
    assert view["state"] == "cancelled"
    steps = {s["name"]: s["state"] for s in view["steps"]}
    assert steps["load-database"] == "cancelled"

    # The load activity itself saw the cancel (at a heartbeat) and reported it.
    history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in kinds
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED in kinds

    # The callback reports the cancellation.
    assert len(receiver.hits) == 1
    callback = json.loads(receiver.hits[0].body)
    assert callback["status"] == "cancelled"
    assert callback["result"]["status"] == "cancelled"
    revision_b = callback["result"]["revision"]
    assert revision_b != first["revision"]

    # Work store kept for WORK_RETENTION, marked cancelled; the site still serves the first
    # revision, with nothing of the second.
    marker = json.loads(
        (Path(settings.artifacts_location) / "_work" / job_id / "finished.json").read_text()
    )
    assert marker["status"] == "cancelled"
    assert latest.read_bytes() == latest_before
    conn = await connect(pg_url)
    try:
        assert await current_revision_id(conn, site) == first["revision"]
        counts = await revision_counts(conn, site, revision_b)
    finally:
        await conn.close()
    assert counts == {"posts": 0, "sections": 0, "media": 0}


async def test_cli_cancel_stops_a_held_step(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    # WORK_RETENTION=0: the cancelled job's work store goes when it ends, as before retention.
    held = settings.model_copy(update={"fault_hold_step": "parse", "work_retention": timedelta(0)})
    env = process_env(settings)
    async with running_worker(held, temporal_client):
        job_id = await start(temporal_client, settings, job_request(EXAMPLE_BLOG, site="cli"))
        await wait_for_activity(temporal_client, job_id, "parse_source")
        done = await asyncio.to_thread(run_cli, env, "cancel", job_id)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "cancelling" in done.stdout
        handle = temporal_client.get_workflow_handle(job_id)
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=120)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert not (Path(settings.artifacts_location) / "_work" / job_id).exists()
    again = await asyncio.to_thread(run_cli, env, "cancel", job_id)
    assert again.returncode == 1
    assert "already cancelled" in again.stdout
