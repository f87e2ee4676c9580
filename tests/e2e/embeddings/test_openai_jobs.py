"""Whole jobs with OpenAI-compatible embeddings and image descriptions: the real Temporal dev
server, Postgres, worker and `openai` client against the local fake OpenAI server.

Proves the provider is chosen by configuration alone, descriptions reach media.json and the
database, the caches stop repeat requests, and Temporal (not the client) retries: a 429 waits
its `retry-after`, 500s and timeouts are retried, a refused input is reported without failing
the job, a 401 or exhausted quota fails fast, and no input is ever embedded twice.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pressroom.starter.demo import callback_receiver
from pressroom.starter.worker import running_worker
from pydantic import SecretStr
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError

from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.embeddings.isolate import PROBE_INPUT
from pressroom.embeddings.openai import OpenAIEmbedder, openai_client
from pressroom.publish.artifacts import decode_vector
from pressroom.search.params import SearchParams
from pressroom.search.searcher import Searcher
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.openai_server import FakeOpenAI, openai_server
from tests.jobs import job_request, run_job, start

__all__ = ["openai_server"]  # the fixture, re-exported for pytest

API_KEY = "sk-test-pressroom-0123456789"


def fresh_model(base: str) -> str:
    """A model name no other test used: the embedding and description caches live in the
    session's one database and would otherwise answer everything without a request."""
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def oa_settings(settings: Settings, openai_server: FakeOpenAI) -> Settings:
    """The test's settings plus an OpenAI base URL and key: EMBEDDING_PROVIDER stays `auto`."""
    return settings.model_copy(
        update={
            "openai_base_url": openai_server.base_url,
            "openai_api_key": SecretStr(API_KEY),
            "openai_timeout_seconds": 2.0,
            "embed_batch_size": 8,
            "embedding_model": fresh_model("text-embedding-3-small"),
            "vision_model": fresh_model("gpt-4o-mini"),
            "network_allowlist": ["127.0.0.1"],  # the loopback callback receiver
        }
    )


@pytest_asyncio.fixture
async def oa_worker(oa_settings: Settings, temporal_client: Client) -> AsyncIterator[None]:
    async with running_worker(oa_settings, temporal_client):
        yield


def published(settings: Settings, dist: str, revision: str) -> Path:
    return Path(settings.artifacts_location) / dist / revision


def assert_nothing_embedded_twice(server: FakeOpenAI) -> None:
    counts = Counter(t for t in server.embedded if t != PROBE_INPUT)
    twice = {t[:60]: n for t, n in counts.items() if n > 1}
    assert not twice, f"inputs embedded more than once: {twice}"


async def embed_attempts(client: Client, job_id: str) -> list[HistoryEvent]:
    """The started events of the job's embed_batch activities (one per activity: the last
    attempt, which carries `attempt` and `last_failure`)."""
    history = await client.get_workflow_handle(job_id).fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    return [
        e
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and scheduled[e.activity_task_started_event_attributes.scheduled_event_id] == "embed_batch"
    ]


async def test_openai_job_describes_images_and_caches_everything(
    oa_settings: Settings,
    oa_worker: None,
    temporal_client: Client,
    openai_server: FakeOpenAI,
    pg_url: str,
) -> None:
    result = await run_job(
        temporal_client, oa_settings, job_request(EXAMPLE_BLOG, site="oa", dist="oa")
    )
    assert result["status"] == "completed", result
    assert result["embedding"] == {
        "provider": "openai",
        "model": oa_settings.embedding_model,
        "dimensions": 384,
        "version": "1",
    }
    assert {r.body["model"] for r in openai_server.chat_requests()} == {oa_settings.vision_model}
    counts = result["counts"]
    assert counts["imagesDescribed"] == 4  # four raster images; the SVG is skipped...
    assert [s["path"] for s in result["skipped"] if "not described" in s["reason"]] == [
        "assets/images/logo.svg"
    ]  # ...and reported
    assert counts["textEmbeddingsComputed"] == counts["sections"]

    # The server saw requests within limits, with dimensions, each input once.
    requests = openai_server.embedding_requests()
    assert requests and all(r.status == 200 for r in requests)
    assert all(r.body["dimensions"] == 384 and len(r.inputs) <= 8 for r in requests)
    assert_nothing_embedded_twice(openai_server)
    assert len(openai_server.chat_requests()) == 4
    assert all(img["mime"] in ("image/png", "image/jpeg") for img in openai_server.images)

    # Descriptions reached media.json, search.json and the database.
    out = published(oa_settings, "oa", result["revision"])
    media = {m["path"]: m for m in json.loads((out / "media.json").read_text())["media"]}
    assert media["assets/images/logo.svg"]["description"] == ""
    described = {p: m["description"] for p, m in media.items() if m["description"]}
    assert len(described) == 4 and all("pixels" in d for d in described.values())
    search = json.loads((out / "search.json").read_text())
    assert search["embedding"]["provider"] == "openai"
    images = {e["id"]: e for e in search["entries"] if e["kind"] == "image"}
    for path, text in described.items():
        assert text in images[path]["text"]
    assert all(e["vector"] is not None for e in search["entries"])
    conn = await connect(pg_url)
    try:
        rows = await conn.fetch(
            "SELECT path, description, embedding IS NOT NULL AS has_vector FROM media "
            "WHERE site_id = 'oa' AND revision_id = $1",
            result["revision"],
        )
        assert {r["path"]: r["description"] for r in rows if r["description"]} == described
        assert all(r["has_vector"] for r in rows)
        # Text queries find images and sections by meaning of their descriptions/text.
        client = openai_client(oa_settings)
        async with OpenAIEmbedder(client, model=oa_settings.embedding_model) as embedder:
            params = SearchParams(query="calibrating the anemometer", site="oa", limit=3)
            found = await Searcher(embedder).search(conn, params)
        assert found["modeUsed"] == "hybrid", found["warnings"]
        assert "anemometer" in found["results"][0]["postId"]
    finally:
        await conn.close()

    # A second job over the same content sends nothing new: embeddings and descriptions
    # come from their caches.
    before_embed, before_chat = len(openai_server.embedded), len(openai_server.chat_requests())
    again = await run_job(
        temporal_client, oa_settings, job_request(EXAMPLE_BLOG, site="oa2", dist="oa2")
    )
    assert again["status"] == "completed"
    assert len(openai_server.embedded) == before_embed
    assert len(openai_server.chat_requests()) == before_chat
    assert again["counts"]["textEmbeddingsReused"] == again["counts"]["sections"]
    assert again["counts"]["imageDescriptionsReused"] == 4
    again_media = json.loads(
        (published(oa_settings, "oa2", again["revision"]) / "media.json").read_text()
    )["media"]
    assert {m["path"]: m["description"] for m in again_media if m["description"]} == described


async def test_429_retry_after_is_waited_by_temporal(
    oa_settings: Settings, oa_worker: None, temporal_client: Client, openai_server: FakeOpenAI
) -> None:
    openai_server.rate_limit(1, retry_after=2)
    job_id = await start(temporal_client, oa_settings, job_request(EXAMPLE_BLOG, site="rl"))
    result = await temporal_client.get_workflow_handle(job_id).result()
    assert result["status"] == "completed"

    [limited] = openai_server.embedding_requests(status=429)
    retried = [
        r
        for r in openai_server.embedding_requests(status=200)
        if r.inputs == limited.inputs and r.received_at > limited.received_at
    ]
    assert retried, "the rate-limited request was sent again"
    waited = retried[0].received_at - limited.received_at
    assert waited >= 2.0, f"retried after {waited:.2f}s, retry-after said 2s"
    retries = [
        e.activity_task_started_event_attributes
        for e in await embed_attempts(temporal_client, job_id)
        if e.activity_task_started_event_attributes.attempt > 1
    ]
    assert len(retries) == 1
    failure = retries[0].last_failure
    assert failure.application_failure_info.type == "EmbeddingUnavailable"
    assert "rate limited" in failure.message and API_KEY not in failure.message
    assert_nothing_embedded_twice(openai_server)


async def test_server_errors_and_timeouts_are_retried(
    oa_settings: Settings, oa_worker: None, temporal_client: Client, openai_server: FakeOpenAI
) -> None:
    openai_server.server_error(1)
    openai_server.stall(1, seconds=20)  # over OPENAI_TIMEOUT_SECONDS=2
    job_id = await start(temporal_client, oa_settings, job_request(EXAMPLE_BLOG, site="flaky"))
    result = await temporal_client.get_workflow_handle(job_id).result()
    assert result["status"] == "completed"
    faults = [r.fault for r in openai_server.embedding_requests() if r.fault]
    assert sorted(faults) == ["server_error", "stall"]
    retried = [
        e.activity_task_started_event_attributes.last_failure.message
        for e in await embed_attempts(temporal_client, job_id)
        if e.activity_task_started_event_attributes.attempt > 1
    ]
    assert len(retried) == 2
    assert any("server error: 500" in m for m in retried)
    assert any("timed out" in m for m in retried), retried
    assert_nothing_embedded_twice(openai_server)


async def test_refused_input_is_reported_and_the_job_completes(
    oa_settings: Settings,
    oa_worker: None,
    temporal_client: Client,
    openai_server: FakeOpenAI,
    tmp_path: Path,
    pg_url: str,
) -> None:
    blog = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, blog)
    (blog / "_posts" / "2024-10-01-bad-section.md").write_text(
        "---\ntitle: A post with one bad section\n---\n\nIntro text about sensors.\n\n"
        "## Fine heading\n\nNothing wrong here.\n\n"
        "## Refused heading\n\nThis section carries POISONPILL and the provider refuses it.\n"
    )
    openai_server.reject_input("POISONPILL")
    result = await run_job(temporal_client, oa_settings, job_request(blog, site="bad"))
    assert result["status"] == "completed", result
    refused_id = "_posts/2024-10-01-bad-section#refused-heading"
    [error] = [e for e in result["errors"] if "input rejected" in e["reason"]]
    assert error["path"].endswith("bad-section#refused-heading"), error
    refused_id = error["path"]
    assert result["counts"]["textEmbeddingsFailed"] == 1
    assert result["errorCount"] == len(result["errors"])

    search = json.loads(
        (published(oa_settings, "dist", result["revision"]) / "search.json").read_text()
    )
    missing = [e["id"] for e in search["entries"] if e["vector"] is None]
    assert missing == [refused_id]
    fine = next(e for e in search["entries"] if e["id"].endswith("bad-section#fine-heading"))
    assert decode_vector(fine["vector"]).shape == (384,)
    conn = await connect(pg_url)
    try:
        nulls = await conn.fetch(
            "SELECT section_id FROM sections WHERE site_id = 'bad' AND revision_id = $1 "
            "AND embedding IS NULL",
            result["revision"],
        )
    finally:
        await conn.close()
    assert [r["section_id"] for r in nulls] == [refused_id]
    assert_nothing_embedded_twice(openai_server)
    assert not any("POISONPILL" in t for t in openai_server.embedded)


@pytest.mark.parametrize("fault", ["unauthorized", "insufficient_quota"])
async def test_auth_and_quota_failures_fail_fast(
    fault: str,
    oa_settings: Settings,
    oa_worker: None,
    temporal_client: Client,
    openai_server: FakeOpenAI,
) -> None:
    getattr(openai_server, fault)(None, endpoint="embeddings")  # from now on
    secret = oa_settings.webhook_secret.get_secret_value()  # type: ignore[union-attr]
    async with callback_receiver(secret) as (callback_url, received):
        body = job_request(EXAMPLE_BLOG, site="denied", callback_url=callback_url)
        job_id = await start(temporal_client, oa_settings, body)
        with pytest.raises(WorkflowFailureError):
            await temporal_client.get_workflow_handle(job_id).result()
        callback: dict[str, Any] = await asyncio.wait_for(received, timeout=60)
    assert callback["status"] == "failed"
    reason = callback["result"]["failure"]
    assert ("not authorised" if fault == "unauthorized" else "quota exhausted") in reason
    assert API_KEY not in json.dumps(callback)
    # No retries: every embed activity that ran, ran once.
    attempts = await embed_attempts(temporal_client, job_id)
    assert attempts and all(e.activity_task_started_event_attributes.attempt == 1 for e in attempts)
    assert len(openai_server.embedding_requests()) == len(attempts)
