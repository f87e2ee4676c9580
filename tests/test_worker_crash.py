"""A worker killed mid-job (after parse, before the database step) loses nothing: a new
worker finishes the job with the same artifacts as an uninterrupted run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from temporalio.client import Client

from pressroom import database
from pressroom.config import Settings
from tests.conftest import EXAMPLE_BLOG, REPO_ROOT
from tests.jobs import job_request, run_job, start
from worker import running_worker
from workflows.plans import LOAD_DATABASE
from workflows.process_job import ProcessJob


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PRESSROOM_STATE_DIR": str(settings.state_dir),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "ARTIFACTS_URL": settings.artifacts_location,
        "ACTIVITY_HEARTBEAT_SECONDS": str(settings.activity_heartbeat_seconds),
    }
    env.update(extra)
    return env


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_for_activity(client: Client, job_id: str, activity_type: str) -> None:
    """Wait (up to 90 s) until a worker has started the job's `activity_type` activity."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        desc = await client.get_workflow_handle(job_id).describe()
        if any(
            a.activity_type.name == activity_type and a.last_started_time.seconds
            for a in desc.raw_description.pending_activities
        ):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"job {job_id} never started {activity_type}")


async def test_worker_killed_before_database_step_resumes_on_new_worker(
    settings: Settings, temporal_client: Client, tmp_path: Path, pg_url: str
) -> None:
    # Reference: an uninterrupted run of the same source, published under another folder.
    async with running_worker(settings, temporal_client):
        reference = await run_job(
            temporal_client, settings, job_request(EXAMPLE_BLOG, site="crash", dist="ref")
        )
    assert reference["status"] == "completed"

    body = job_request(EXAMPLE_BLOG, site="crash", dist="crashed")
    held = worker_env(settings, PRESSROOM_FAULT_HOLD=LOAD_DATABASE)
    doomed = spawn_worker(held, tmp_path / "a.log")
    try:
        job_id = await start(temporal_client, settings, body)
        await wait_for_activity(temporal_client, job_id, "load_database")
        progress = await temporal_client.get_workflow_handle(job_id).query(ProcessJob.progress)
        assert progress.current_step == LOAD_DATABASE
        done = {s.name for s in progress.steps if s.state == "completed"}
        assert {"fetch", "parse", "embed-text"} <= done
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()

    survivor = spawn_worker(worker_env(settings), tmp_path / "b.log")
    try:
        result = await asyncio.wait_for(
            temporal_client.get_workflow_handle(job_id).result(), timeout=120
        )
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=60)

    assert result["status"] == "completed"
    assert result["revision"] == reference["revision"]
    # Same bytes for every data artifact (the manifest differs only by its creation time).
    for name in ("posts.json", "media.json", "search.json"):
        assert result["artifacts"]["files"][name] == reference["artifacts"]["files"][name], name
    history = await temporal_client.get_workflow_handle(job_id).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) >= 2, "the database step was retried on the new worker"
    conn = await database.connect(pg_url)
    try:
        counts = await database.revision_counts(conn, "crash", result["revision"])
    finally:
        await conn.close()
    assert counts == {k: result["counts"][k] for k in ("posts", "sections", "media")}
