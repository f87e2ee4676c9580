"""Rebuild on push (issue 15): `POST /hooks/{github,gitlab,gitea}` with payloads shaped like each
host's documented push event (tests/fakes/push_events.py), against a real git repository
served over file://, the real API, Temporal dev server, worker and Postgres.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from pressroom.starter.worker import running_worker
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.triggers.push import MAX_BODY_BYTES
from pressroom.triggers.signatures import sign
from tests.conftest import EXAMPLE_BLOG, served_api
from tests.e2e.jobs.test_incremental import fresh_model, openai_settings, section_inputs
from tests.fakes.openai_server import FakeOpenAI, openai_server
from tests.fakes.push_events import ping_event, push_event

__all__ = ["openai_server"]  # the fixture, re-exported for pytest

SECRET = "push-secret-0123456789abcdef"
EDITED = "_posts/2024-05-18-lora-telemetry.md"
HOSTS = ("github", "gitlab", "gitea")


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)
    return done.stdout.decode().strip()


class Repo:
    """A working copy of the example blog pushing to a bare repository (the "remote")."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "blog.git"
        self.work = root / "work"
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        shutil.copytree(EXAMPLE_BLOG, self.work)
        git(self.work, "init", "-q", "-b", "main")
        git(self.work, "remote", "add", "origin", str(self.bare))
        self.head = self.commit("first")

    def commit(self, message: str, branch: str = "main") -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", "origin", f"HEAD:{branch}")
        return git(self.work, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture
def repository() -> str:
    # Registrations outlive a test in the session's database: each test has its own repository.
    return f"https://github.com/acme/blog-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def git_settings(settings: Settings, tmp_path: Path) -> Settings:
    # git over file:// reads only under a configured source root.
    return settings.model_copy(update={"source_roots": [tmp_path]})


@pytest_asyncio.fixture
async def http(git_settings: Settings, temporal_client: Client) -> AsyncIterator[Any]:
    async with (
        served_api(git_settings, temporal_client) as url,
        aiohttp.ClientSession(base_url=url) as session,
    ):
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kw: Any
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, path, **kw) as resp:
        return resp.status, await resp.json()


async def register(
    http: aiohttp.ClientSession,
    repo: Repo,
    repository: str,
    *,
    content_paths: list[str] | None = None,
) -> str:
    site = f"push-{uuid.uuid4().hex[:10]}"
    spec: dict[str, Any] = {
        "repoUrl": f"file://{repo.bare}",
        "branch": "main",
        "repository": repository,
        "webhookSecret": SECRET,
        "contentPaths": content_paths or [],
    }
    status, body = await call(http, "PUT", f"/sites/{site}", json=spec)
    assert status == 201, body
    return site


async def deliver(
    http: aiohttp.ClientSession, host: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, Any]]:
    return await call(http, "POST", f"/hooks/{host}", data=body, headers=headers)


async def site_jobs(client: Client, site: str) -> list[str]:
    query = f"WorkflowType = 'ProcessJob' AND PressroomSite = '{site}'"
    return [wf.id async for wf in client.list_workflows(query)]


@pytest.mark.parametrize("host", HOSTS)
async def test_a_signed_push_builds_once_and_a_redelivery_starts_nothing(
    http: aiohttp.ClientSession,
    temporal_client: Client,
    git_settings: Settings,
    repo: Repo,
    repository: str,
    host: str,
) -> None:
    site = await register(http, repo, repository)
    delivery = str(uuid.uuid4())
    headers, body = push_event(
        host,
        secret=SECRET,
        repository=repository,
        branch="main",
        changed=(EDITED,),
        delivery=delivery,
        after=repo.head,
    )
    async with running_worker(git_settings, temporal_client):
        status, answer = await deliver(http, host, headers, body)
        assert status == 202, answer
        (outcome,) = answer["sites"]
        assert outcome["site"] == site and outcome["created"] is True
        job_id = outcome["jobId"]
        result = await temporal_client.get_workflow_handle(job_id).result()
    assert result["status"] == "completed" and result["counts"]["posts"] > 0
    assert result["trigger"] == {
        "kind": "webhook",
        "site": site,
        "host": host,
        "delivery": delivery,
        "commit": repo.head,
    }
    status, job = await call(http, "GET", f"/jobs/{job_id}")
    assert job["trigger"]["delivery"] == delivery

    # The host retries the same delivery: the same job answers, nothing new starts.
    status, again = await deliver(http, host, headers, body)
    assert status == 202 and again["sites"][0]["jobId"] == job_id
    assert again["sites"][0]["created"] is False and "redelivery" in again["sites"][0]["reason"]
    assert await site_jobs(temporal_client, site) == [job_id]

    status, shown = await call(http, "GET", f"/sites/{site}")
    assert shown["webhook"]["lastDelivery"]["delivery"] == delivery
    assert shown["revision"] == result["revision"]


@pytest.mark.parametrize("host", HOSTS)
async def test_a_wrong_or_missing_signature_is_a_401_and_starts_nothing(
    http: aiohttp.ClientSession,
    temporal_client: Client,
    repo: Repo,
    repository: str,
    host: str,
) -> None:
    site = await register(http, repo, repository)
    headers, body = push_event(host, secret="not-the-secret-at-all", repository=repository)
    assert (await deliver(http, host, headers, body))[0] == 401
    _, signed = push_event(host, secret=SECRET, repository=repository)
    unsigned = {k: v for k, v in headers.items() if "signature" not in k.lower()}
    unsigned = {k: v for k, v in unsigned.items() if "token" not in k.lower()}
    status, answer = await deliver(http, host, unsigned, signed)
    assert status == 401, answer
    # A body changed after signing does not verify either.
    good_headers, good_body = push_event(host, secret=SECRET, repository=repository)
    if host != "gitlab":  # GitLab sends the token itself, not a signature of the body
        tampered = good_body.replace(b'"main"', b'"mainx"', 1)
        assert (await deliver(http, host, good_headers, tampered))[0] == 401
    assert await site_jobs(temporal_client, site) == []


async def test_other_branches_and_unrelated_paths_start_nothing_and_say_why(
    http: aiohttp.ClientSession, temporal_client: Client, repo: Repo, repository: str
) -> None:
    site = await register(http, repo, repository, content_paths=["_posts/"])
    headers, body = push_event("github", secret=SECRET, repository=repository, branch="dev")
    status, answer = await deliver(http, "github", headers, body)
    assert status == 202 and answer["status"] == "ignored"
    (outcome,) = answer["sites"]
    assert outcome["build"] is False and "dev" in outcome["reason"]
    assert "main" in outcome["reason"]

    headers, body = push_event(
        "gitea", secret=SECRET, repository=repository, changed=("README.md", "theme/x.css")
    )
    status, answer = await deliver(http, "gitea", headers, body)
    assert status == 202 and answer["status"] == "ignored"
    assert "_posts/" in answer["sites"][0]["reason"]
    assert await site_jobs(temporal_client, site) == []


async def test_a_ping_is_answered(http: aiohttp.ClientSession, repo: Repo, repository: str) -> None:
    site = await register(http, repo, repository)
    headers, body = ping_event(secret=SECRET, repository=repository)
    status, answer = await deliver(http, "github", headers, body)
    assert status == 200 and answer == {"status": "pong", "sites": [site]}


async def test_unknown_repositories_hosts_and_bad_payloads(
    http: aiohttp.ClientSession, repo: Repo, repository: str
) -> None:
    await register(http, repo, repository)
    headers, body = push_event("github", secret=SECRET, repository="https://github.com/x/other")
    assert (await deliver(http, "github", headers, body))[0] == 404
    assert (await deliver(http, "bitbucket", headers, body))[0] == 404
    headers, _ = push_event("github", secret=SECRET, repository=repository)
    status, answer = await deliver(http, "github", headers, b"[not json")
    assert status == 400 and answer["error"]


async def test_a_push_touching_one_post_re_embeds_only_that_post(
    http: aiohttp.ClientSession,
    temporal_client: Client,
    git_settings: Settings,
    openai_server: FakeOpenAI,
    repo: Repo,
    repository: str,
) -> None:
    worker_settings = openai_settings(git_settings, openai_server, fresh_model())
    await register(http, repo, repository)
    before = set(section_inputs(repo.work, EDITED))
    async with running_worker(worker_settings, temporal_client):
        headers, body = push_event(
            "github", secret=SECRET, repository=repository, changed=(EDITED,), after=repo.head
        )
        first_id = (await deliver(http, "github", headers, body))[1]["sites"][0]["jobId"]
        first = await temporal_client.get_workflow_handle(first_id).result()
        assert first["status"] == "completed"
        openai_server.inputs.clear()

        post = repo.work / EDITED
        post.write_text(post.read_text() + "\n\nA line added by a push, nowhere else.\n")
        head = repo.commit("edit one post")
        headers, body = push_event(
            "github", secret=SECRET, repository=repository, changed=(EDITED,), after=head
        )
        second_id = (await deliver(http, "github", headers, body))[1]["sites"][0]["jobId"]
        second = await temporal_client.get_workflow_handle(second_id).result()
    assert second["status"] == "completed" and second["revision"] != first["revision"]
    changed = set(section_inputs(repo.work, EDITED)) - before
    assert changed and set(openai_server.inputs) == changed
    assert second["counts"]["textEmbeddingsComputed"] == len(changed)
    assert second["counts"]["mediaEmbeddingsComputed"] == 0
    assert second["trigger"]["commit"] == head


async def test_a_push_larger_than_the_api_body_limit_is_read_and_one_over_the_cap_is_a_413(
    http: aiohttp.ClientSession, git_settings: Settings, repo: Repo, repository: str
) -> None:
    site = await register(http, repo, repository, content_paths=["_posts/"])
    # GitHub lists at most 3,000 files per commit: 2,000 is a complete, large list.
    many = tuple(f"assets/file-{i:06d}.txt" for i in range(2000))
    headers, body = push_event("github", secret=SECRET, repository=repository, changed=many)
    padding = b"p" * git_settings.api_max_body_bytes  # a long commit message, say
    body = body.replace(b'"message"', b'"padding": "' + padding + b'", "message"', 1)
    headers, body = signed(headers, body)
    assert len(body) > git_settings.api_max_body_bytes
    status, answer = await deliver(http, "github", headers, body)
    assert status == 202 and answer["status"] == "ignored", answer
    assert answer["sites"][0]["site"] == site and "_posts/" in answer["sites"][0]["reason"]

    huge = b" " * (MAX_BODY_BYTES + 1)
    async with http.post("/hooks/github", data=huge, headers=headers) as resp:
        assert resp.status == 413 and (await resp.json())["maxBytes"] == MAX_BODY_BYTES


def signed(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return {**headers, **sign("github", body, SECRET)}, body
