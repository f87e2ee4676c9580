"""Test helpers: start a job through the same path as the API and wait for its result."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from pressroom.api.jobs import start_job
from pressroom.api.requests import job_input, parse_job_request
from temporalio.client import Client, WorkflowHistory

from pressroom.config import Settings

MAX_PAYLOAD_BYTES = 64 * 1024


def job_request(
    repo: Path | str,
    *,
    job_id: str | None = None,
    task: str = "process-all",
    site: str = "site",
    dist: str = "dist",
    callback_url: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": job_id or f"job-{uuid.uuid4().hex[:12]}",
        "task": task,
        "data": {"repoUrl": str(repo), "distFolder": dist, "site": site},
    }
    if callback_url:
        body["callbackUrl"] = callback_url
    return body


async def start(client: Client, settings: Settings, body: dict[str, Any]) -> str:
    request, parsed = parse_job_request(json.dumps(body).encode())
    await start_job(client, job_input(request, parsed, settings), settings.temporal_task_queue)
    return request.jobId


async def run_job(client: Client, settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    job_id = await start(client, settings, body)
    return await client.get_workflow_handle(job_id).result()


def largest_event(history: WorkflowHistory) -> int:
    return max(event.ByteSize() for event in history.events)
