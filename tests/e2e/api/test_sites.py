"""The site registry (issue 15): `PUT/GET/DELETE /sites/{site}`, `GET /sites` and builds by
name (`POST /sites/{site}/builds`) through the real API, Temporal dev server and Postgres.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from pressroom.config import Settings
from tests.conftest import TEMPORAL_BIN, served_api

SECRET = "s3cret-for-the-hooks-0123456789"


@pytest_asyncio.fixture
async def http(api_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=api_url) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
    async with http.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json()


def site_name() -> str:
    return f"reg-{uuid.uuid4().hex[:10]}"


async def test_register_show_update_and_remove(
    http: aiohttp.ClientSession, blog: Path, pg_url: str
) -> None:
    site = site_name()
    spec = {
        "repoUrl": "https://deploy:ghp_tokenvalue123@github.com/acme/blog.git",
        "branch": "main",
        "contentPaths": ["content/posts", "static/**/*.png"],
        "task": "parse-only",
        "options": {"profile": "hugo", "baseUrl": "https://blog.example.com/"},
        "callbackUrl": "https://hooks.example.com/pressroom?token=abc123",
        "webhookSecret": SECRET,
    }
    status, shown = await call(http, "PUT", f"/sites/{site}", spec)
    assert status == 201, shown
    assert shown["repoUrl"].startswith("https://github.com/acme/blog.git")
    assert "ghp_tokenvalue123" not in str(shown) and "abc123" not in str(shown)
    assert SECRET not in str(shown) and shown["webhook"]["secret"] is True
    assert shown["webhook"]["repository"] == "github.com/acme/blog"
    assert shown["repoUrl"].endswith("#main") and shown["distFolder"] == site
    assert shown["options"] == {"profile": "hugo", "baseUrl": "https://blog.example.com/"}

    # Stored sealed: the database holds neither the token nor the secret in clear.
    conn = await asyncpg.connect(pg_url)
    try:
        row = await conn.fetchrow("SELECT * FROM site_registry WHERE site_id = $1", site)
    finally:
        await conn.close()
    assert "ghp_tokenvalue123" not in str(dict(row)) and SECRET not in str(dict(row))

    # A PUT without the secret keeps it; one with null removes it.
    status, again = await call(http, "PUT", f"/sites/{site}", {"repoUrl": str(blog)})
    assert status == 200 and again["webhook"]["secret"] is True
    assert again["task"] == "process-all" and again["branch"] is None
    status, again = await call(
        http, "PUT", f"/sites/{site}", {"repoUrl": str(blog), "webhookSecret": None}
    )
    assert status == 200 and again["webhook"]["secret"] is False

    status, listed = await call(http, "GET", "/sites")
    assert status == 200 and site in [s["site"] for s in listed["sites"] if s["registered"]]
    status, detail = await call(http, "GET", f"/sites/{site}")
    assert status == 200 and detail["schedule"] is None and detail["newestJob"] is None

    assert (await call(http, "DELETE", f"/sites/{site}"))[0] == 200
    assert (await call(http, "GET", f"/sites/{site}"))[0] == 404
    assert (await call(http, "DELETE", f"/sites/{site}"))[0] == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "repoUrl"),
        ({"repoUrl": ""}, "repoUrl"),
        ({"repoUrl": "x", "task": "everything"}, "task"),
        ({"repoUrl": "x", "options": {"profile": "wordpress"}}, "options.profile"),
        ({"repoUrl": "x", "options": {"baseUrl": "ftp://x"}}, "options.baseUrl"),
        ({"repoUrl": "x", "options": {"colour": "red"}}, "options.colour"),
        ({"repoUrl": "x", "distFolder": "../up"}, "distFolder"),
        ({"repoUrl": "x", "distFolder": "_work"}, "distFolder"),
        ({"repoUrl": "x", "callbackUrl": "javascript:alert(1)"}, "callbackUrl"),
        ({"repoUrl": "x", "branch": "--upload-pack=evil"}, "branch"),
        ({"repoUrl": "https://h/r.git#main", "branch": "dev"}, "branch"),
        ({"repoUrl": "x", "contentPaths": ["../etc"]}, "contentPaths"),
        ({"repoUrl": "x", "contentPaths": "docs"}, "contentPaths"),
        ({"repoUrl": "x", "webhookSecret": "short"}, "webhookSecret"),
        ({"repoUrl": "x", "repoURL": "y"}, "repoURL"),
        ({"repoUrl": 7}, "repoUrl"),
        ({"repoUrl": "x", "repository": "https://github.com"}, "repository"),
        ({"repoUrl": "x", "contentPaths": ["./"]}, "contentPaths"),
        ([], None),
    ],
)
async def test_a_bad_registration_is_a_400_naming_the_field(
    http: aiohttp.ClientSession, body: Any, field: str | None
) -> None:
    site = site_name()
    status, answer = await call(http, "PUT", f"/sites/{site}", body)
    assert status == 400, answer
    assert answer.get("field", None) == field or (
        field is not None and answer.get("field", "").startswith(field)
    ), answer
    assert (await call(http, "GET", f"/sites/{site}"))[0] == 404


@pytest.mark.parametrize("site", ["latest.json", "_work", "a" * 65, "-x", "a b", "a:b"])
async def test_a_bad_site_name_is_a_400(http: aiohttp.ClientSession, site: str) -> None:
    status, answer = await call(http, "PUT", f"/sites/{site}", {"repoUrl": "x"})
    assert status in (400, 404), answer  # 404: a name the router cannot even match
    if status == 400:
        assert answer["field"] == "site"


async def test_malformed_json_is_a_400(http: aiohttp.ClientSession) -> None:
    status, answer = await call(http, "PUT", f"/sites/{site_name()}", raw=b"{not json")
    assert status == 400 and "malformed JSON" in answer["error"]


async def test_a_build_by_name_runs_the_registered_job(
    http: aiohttp.ClientSession, temporal_client: Client, worker: None, blog: Path
) -> None:
    site = site_name()
    assert (await call(http, "PUT", f"/sites/{site}", {"repoUrl": str(blog)}))[0] == 201
    status, started = await call(http, "POST", f"/sites/{site}/builds")
    assert status == 202, started
    job_id = started["jobId"]
    assert job_id.startswith(f"{site}.build.") and started["created"] is True
    result = await temporal_client.get_workflow_handle(job_id).result()
    assert result["status"] == "completed" and result["site"] == site
    assert result["trigger"] == {"kind": "api", "site": site}

    status, job = await call(http, "GET", f"/jobs/{job_id}")
    assert status == 200 and job["trigger"] == {"kind": "api", "site": site}
    status, detail = await call(http, "GET", f"/sites/{site}")
    assert detail["revision"] == result["revision"] and detail["lastJob"]["jobId"] == job_id
    assert detail["newestJob"]["jobId"] == job_id

    # A named job id: the same again is the same job, not a second one.
    named = {"jobId": f"{site}-named"}
    first = await call(http, "POST", f"/sites/{site}/builds", named)
    second = await call(http, "POST", f"/sites/{site}/builds", named)
    assert first[0] == second[0] == 202
    assert first[1]["created"] is True and second[1]["created"] is False
    await temporal_client.get_workflow_handle(named["jobId"]).result()

    assert (await call(http, "POST", f"/sites/{site}/builds", {"jobId": "../x"}))[0] == 400
    assert (await call(http, "POST", f"/sites/{site}/builds", {"ref": "x"}))[0] == 400
    assert (await call(http, "POST", "/sites/not-registered/builds"))[0] == 404


async def test_a_job_started_by_post_process_says_api(
    http: aiohttp.ClientSession, temporal_client: Client, worker: None, blog: Path
) -> None:
    body = {
        "jobId": f"api-{uuid.uuid4().hex[:8]}",
        "task": "parse-only",
        "data": {"repoUrl": str(blog)},
    }
    assert (await call(http, "POST", "/process", body))[0] == 202
    result = await temporal_client.get_workflow_handle(body["jobId"]).result()
    assert result["trigger"] == {"kind": "api"}


async def test_a_folder_another_site_publishes_to_is_refused_at_registration(
    http: aiohttp.ClientSession, temporal_client: Client, worker: None, blog: Path
) -> None:
    owner, other = site_name(), site_name()
    spec = {"repoUrl": str(blog), "distFolder": f"shared-{owner}"}
    assert (await call(http, "PUT", f"/sites/{owner}", spec))[0] == 201
    job_id = (await call(http, "POST", f"/sites/{owner}/builds"))[1]["jobId"]
    assert (await temporal_client.get_workflow_handle(job_id).result())["status"] == "completed"
    status, answer = await call(http, "PUT", f"/sites/{other}", spec)
    assert status == 409 and answer["field"] == "distFolder" and answer["owner"] == owner
    assert (await call(http, "GET", f"/sites/{other}"))[0] == 404


@pytest.mark.parametrize(
    "raw",
    [
        b'{"repoUrl": "/tmp", "contentPaths": ["a\\ud800"]}',
        b'{"repoUrl": "/tmp", "repository": "https://github.com/a/b\\u0000"}',
        b'{"repoUrl": "/tmp", "options": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}",
        b'{"repoUrl": "/tmp", "n": 1' + b"0" * 200 + b"}",
        b"\xff\xfe",
    ],
)
async def test_hostile_registrations_are_400s(http: aiohttp.ClientSession, raw: bytes) -> None:
    site = site_name()
    status, answer = await call(http, "PUT", f"/sites/{site}", raw=raw)
    assert status == 400, answer
    assert (await call(http, "GET", f"/sites/{site}"))[0] == 404


async def test_temporal_out_of_reach_is_a_503(
    settings: Settings, http: aiohttp.ClientSession, blog: Path, tmp_path: Path
) -> None:
    site = site_name()
    assert (await call(http, "PUT", f"/sites/{site}", {"repoUrl": str(blog)}))[0] == 201
    # A Temporal of its own, stopped under the API's connected client.
    gone = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        dev_server_database_filename=str(tmp_path / "gone.db"),
        data_converter=pydantic_data_converter,
        ui=False,
    )
    client = gone.client
    await gone.shutdown()
    async with served_api(settings, client) as base, aiohttp.ClientSession(base_url=base) as h:
        status, answer = await call(h, "PUT", f"/sites/{site}/schedule", {"every": "1h"})
        assert status == 503 and answer["error"] == "Temporal is unavailable", answer
        assert (await call(h, "POST", f"/sites/{site}/builds"))[0] == 503
