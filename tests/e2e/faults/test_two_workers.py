"""One job, two worker processes: the embedding batches are parallel activities, so both
workers run some of them (each worker takes at most two activities at a time, and every
request to the fake OpenAI server takes a while, so neither can drain the queue alone)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from pressroom.config import Settings
from tests.conftest import EXAMPLE_BLOG
from tests.e2e.embeddings.test_openai_jobs import (
    assert_nothing_embedded_twice,
    embed_attempts,
    fresh_model,
)
from tests.fakes.crash_drills import settings_env, spawn_worker
from tests.fakes.openai_server import FakeOpenAI, openai_server
from tests.jobs import job_request, start

__all__ = ["openai_server"]  # the fixture, re-exported for pytest


async def activity_pollers(client: Client, settings: Settings) -> set[str]:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=settings.temporal_task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return {p.identity for p in response.pollers}


async def wait_for_pollers(
    client: Client, settings: Settings, procs: list[subprocess.Popen[bytes]], logs: list[Path]
) -> set[str]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{log.read_text()[-3000:]}")
        pollers = await activity_pollers(client, settings)
        if len(pollers) >= len(procs):
            return pollers
        await asyncio.sleep(0.3)
    raise TimeoutError("the workers never polled the task queue")


async def test_two_worker_processes_share_one_jobs_embedding_batches(
    settings: Settings, temporal_client: Client, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.latency = 0.4
    env = settings_env(
        settings,
        OPENAI_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="sk-test-two-workers",
        EMBEDDING_MODEL=fresh_model("text-embedding-3-small"),
        VISION_MODEL=fresh_model("gpt-4o-mini"),
        EMBED_BATCH_SIZE="4",
        WORKER_MAX_ACTIVITIES="2",
    )
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    procs = [spawn_worker(env, log) for log in logs]
    try:
        await wait_for_pollers(temporal_client, settings, procs, logs)
        # The job is started with the test's settings: EMBED_CONCURRENCY=4 batches at once.
        assert settings.embed_concurrency == 4
        job_id = await start(temporal_client, settings, job_request(EXAMPLE_BLOG, site="two"))
        result = await asyncio.wait_for(
            temporal_client.get_workflow_handle(job_id).result(), timeout=240
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)

    assert result["status"] == "completed", result
    assert result["embedding"]["provider"] == "openai"
    attempts = await embed_attempts(temporal_client, job_id)
    by_worker: dict[str, int] = {}
    for event in attempts:
        identity = event.activity_task_started_event_attributes.identity
        by_worker[identity] = by_worker.get(identity, 0) + 1
    # Worker identities are "<pid>@<host>": both processes ran embedding batches.
    pids = {identity.split("@")[0] for identity in by_worker}
    assert pids == {str(p.pid) for p in procs}, by_worker
    assert sum(by_worker.values()) == len(attempts) >= 8
    assert_nothing_embedded_twice(openai_server)
