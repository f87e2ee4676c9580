"""End to end: the real API, Temporal dev server, worker, Postgres and a signed callback,
over a copy of the jekyll-docs corpus."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pressroom.starter.demo import callback_receiver
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.publish.artifacts import sha256_file
from tests.stored import current_revision_id, revision_counts


async def post_job(api_url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(f"{api_url}/process", json=body) as resp:
        return resp.status, await resp.json()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The callback receiver is on loopback: allowlisted for the network guard.
    return settings.model_copy(update={"network_allowlist": ["127.0.0.1"]})


def published_dir(settings: Settings, dist: str, revision: str) -> Path:
    return Path(settings.artifacts_location) / dist / revision


async def test_process_all_jekyll_end_to_end(
    settings: Settings,
    worker: None,
    api_url: str,
    jekyll_copy: Path,
    pg_url: str,
    temporal_client: Client,
) -> None:
    secret = settings.webhook_secret.get_secret_value()  # type: ignore[union-attr]
    async with callback_receiver(secret) as (callback_url, received):
        status, accepted = await post_job(
            api_url,
            {
                "jobId": "e2e-jekyll",
                "task": "process-all",
                "data": {"repoUrl": str(jekyll_copy), "distFolder": "dist", "site": "jekyll"},
                "callbackUrl": callback_url,
            },
        )
        assert status == 202, accepted
        assert accepted["status"] == "accepted" and accepted["jobId"] == "e2e-jekyll"
        # callback_receiver verifies the Standard Webhooks signature before resolving.
        callback = await asyncio.wait_for(received, timeout=240)

    assert callback["jobId"] == "e2e-jekyll"
    assert callback["status"] == "completed", callback
    assert isinstance(callback["duration"], int) and callback["duration"] > 0
    assert callback["processedAt"].endswith("Z")
    assert callback["logs"]
    result = callback["result"]
    revision = result["revision"]
    out = published_dir(settings, "dist", revision)

    # Every Markdown file is a post, a reported error or a reported skipped draft.
    markdown = {
        p.relative_to(jekyll_copy).as_posix()
        for p in jekyll_copy.rglob("*")
        if p.suffix.lower() in (".md", ".markdown")
    }
    posts = json.loads((out / "posts.json").read_text())["posts"]
    assert len(result["errors"]) == result["errorCount"], "all errors reported inline"
    accounted = (
        {p["path"] for p in posts}
        | {e["path"] for e in result["errors"]}
        | {s["path"] for s in result["skipped"]}
    )
    assert accounted == markdown
    assert len(posts) >= 150

    # Postgres holds what the artifacts hold.
    media = json.loads((out / "media.json").read_text())["media"]
    search = json.loads((out / "search.json").read_text())
    sections = sum(len(p["sections"]) for p in posts)
    conn = await connect(pg_url)
    try:
        assert await current_revision_id(conn, "jekyll") == revision
        counts = await revision_counts(conn, "jekyll", revision)
    finally:
        await conn.close()
    assert counts["posts"] == len(posts) == result["counts"]["posts"]
    assert counts["sections"] == sections == result["counts"]["sections"]
    assert counts["media"] == len(media) == result["counts"]["media"]
    assert sum(1 for e in search["entries"] if e["kind"] == "section") == sections
    assert len(media) == 13  # every image in the corpus

    # The manifest's hashes match the published files.
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["revision"] == revision
    assert set(manifest["files"]) == {"posts.json", "media.json", "search.json", "errors.json"}
    for name, meta in manifest["files"].items():
        assert sha256_file(out / name) == meta["sha256"], name
        assert (out / name).stat().st_size == meta["bytes"]
    latest = json.loads((Path(settings.artifacts_location) / "dist" / "latest.json").read_text())
    assert latest["revision"] == revision

    # The job's status endpoint agrees, and the work store is kept for resets, marked finished.
    async with aiohttp.ClientSession() as http, http.get(f"{api_url}/jobs/e2e-jekyll") as resp:
        view = await resp.json()
    assert view["state"] == "completed"
    assert view["counts"]["posts"] == len(posts)
    # The callback goes out before the work store is marked: wait for the run to end.
    await temporal_client.get_workflow_handle("e2e-jekyll").result()
    work = Path(settings.artifacts_location) / "_work" / "e2e-jekyll"
    marker = json.loads((work / "finished.json").read_text())
    assert (marker["jobId"], marker["status"], marker["retention"]) == (
        "e2e-jekyll",
        "completed",
        "7d",
    )
    assert (work / "parsed" / "posts.jsonl").is_file()  # what a reset to build-artifacts reads
