"""The job contract of `POST /process` and `GET /jobs/{jobId}` against the real dev server.

No worker runs here: accepted jobs simply wait on the test's own task queue.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
from pressroom.workflows.plans import KNOWN_TASKS
from temporalio.client import Client


def job_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": f"api-{uuid.uuid4().hex[:10]}",
        "task": "process-all",
        "data": {"repoUrl": "/srv/posts", "distFolder": "dist"},
        "callbackUrl": "https://example.invalid/hook",
    }
    body.update(overrides)
    return body


async def post(api_url: str, payload: Any, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": payload}
        async with http.post(f"{api_url}/process", **kwargs) as resp:
            return resp.status, await resp.json()


async def test_accepts_a_job(api_url: str) -> None:
    body = job_body()
    status, reply = await post(api_url, body)
    assert status == 202
    assert reply["status"] == "accepted"
    assert reply["jobId"] == body["jobId"] == reply["workflowId"]
    assert reply["statusUrl"] == f"/jobs/{body['jobId']}"


async def test_same_job_same_body_is_idempotent(api_url: str, temporal_client: Client) -> None:
    body = job_body()
    first = await post(api_url, body)
    second = await post(api_url, body)
    assert first[0] == second[0] == 202
    assert first[1]["runId"] == second[1]["runId"]
    assert first[1]["created"] is True and second[1]["created"] is False
    runs = [w async for w in temporal_client.list_workflows(f"WorkflowId = '{body['jobId']}'")]
    assert len(runs) == 1


async def test_same_job_posted_concurrently_starts_one_execution(
    api_url: str, temporal_client: Client
) -> None:
    body = job_body()
    results = await asyncio.gather(*(post(api_url, body) for _ in range(5)))
    assert [status for status, _ in results] == [202] * 5
    assert len({reply["runId"] for _, reply in results}) == 1
    assert sum(reply["created"] for _, reply in results) == 1


async def test_same_job_different_body_conflicts(api_url: str) -> None:
    body = job_body()
    assert (await post(api_url, body))[0] == 202
    changed = {**body, "data": {**body["data"], "distFolder": "elsewhere"}}
    status, reply = await post(api_url, changed)
    assert status == 409
    assert body["jobId"] in reply["error"]


async def test_malformed_json_is_400(api_url: str) -> None:
    status, reply = await post(api_url, None, raw=b'{"jobId": "x", ')
    assert status == 400
    assert "malformed JSON" in reply["error"]


async def test_non_object_body_is_400(api_url: str) -> None:
    status, reply = await post(api_url, [1, 2, 3])
    assert status == 400
    assert "JSON object" in reply["error"]


async def test_wrong_field_type_names_the_field(api_url: str) -> None:
    status, reply = await post(api_url, job_body(data={"repoUrl": 42}))
    assert status == 400
    assert reply["field"] == "data.repoUrl"
    assert "data.repoUrl" in reply["error"]


async def test_missing_field_names_the_field(api_url: str) -> None:
    body = job_body()
    del body["jobId"]
    status, reply = await post(api_url, body)
    assert status == 400
    assert reply["field"] == "jobId"


async def test_unsafe_identifiers_are_400(api_url: str) -> None:
    for body, field in (
        (job_body(jobId="../etc/passwd"), "jobId"),
        (job_body(jobId="a" * 200), "jobId"),
        (job_body(data={"repoUrl": "/x", "distFolder": "../up"}), "data.distFolder"),
        (job_body(data={"repoUrl": "/x", "distFolder": "/abs"}), "data.distFolder"),
        (job_body(data={"repoUrl": "/x", "site": "a/b"}), "data.site"),
        (job_body(callbackUrl="ftp://host/x"), "callbackUrl"),
    ):
        status, reply = await post(api_url, body)
        assert status == 400, body
        assert reply["field"] == field, reply


async def test_unknown_task_lists_known_tasks(api_url: str) -> None:
    status, reply = await post(api_url, job_body(task="make-coffee"))
    assert status == 400
    assert reply["field"] == "task"
    assert reply["knownTasks"] == list(KNOWN_TASKS)
    assert "make-coffee" in reply["error"]


async def test_unknown_job_is_404(api_url: str) -> None:
    url = f"{api_url}/jobs/nope-{uuid.uuid4()}"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 404


async def test_job_status_of_a_waiting_job(api_url: str) -> None:
    body = job_body()
    await post(api_url, body)
    async with aiohttp.ClientSession() as http, http.get(f"{api_url}/jobs/{body['jobId']}") as r:
        view = await r.json()
    assert r.status == 200
    # No worker polls this test's queue: the job is accepted but not yet picked up.
    assert view["state"] in ("pending", "running")
    assert view["jobId"] == body["jobId"]


async def test_healthz(api_url: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{api_url}/healthz") as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ok"
