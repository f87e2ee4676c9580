"""Two jobs for one site at once: their switches never interleave and the later request wins,
in Postgres and in `latest.json`, whichever finishes first; the current revision never mixes
rows of two sources. Real worker(s), Temporal dev server and Postgres; generated corpora.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio
from pressroom.api.jobs import start_job
from pressroom.api.requests import job_input, parse_job_request
from pressroom.starter.worker import running_worker
from pressroom.workflows.plans import SWITCH
from temporalio.client import Client

from bench.generate import generate_corpus
from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.publish.latest import iso, parse_time
from tests.jobs import job_request, run_job, start
from tests.stored import current_revision_id, revision_counts


@pytest_asyncio.fixture
async def db(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(pg_url)
    yield conn
    await conn.close()


def two_sources(tmp_path: Path) -> tuple[Path, Path]:
    """Source A, and source B: A with a fifth of the posts deleted and a few edited."""
    a = generate_corpus(tmp_path / "a", posts=40, seed=11)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    posts = sorted((b / "_posts").glob("*.md"))
    for doomed in posts[::5]:
        doomed.unlink()
    for edited in (p for p in posts[1::7] if p.exists()):
        edited.write_text(edited.read_text() + "\n\nEdited for revision B.\n")
    return a, b


def latest(settings: Settings) -> dict[str, Any]:
    return json.loads((Path(settings.artifacts_location) / "dist" / "latest.json").read_text())


def published_posts(settings: Settings, revision: str) -> set[str]:
    doc = json.loads(
        (Path(settings.artifacts_location) / "dist" / revision / "posts.json").read_text()
    )
    return {p["id"] for p in doc["posts"]}


async def assert_current_is(
    conn: asyncpg.Connection, settings: Settings, site: str, result: dict[str, Any]
) -> None:
    """The site serves exactly `result`'s revision: pointer, every row, latest.json."""
    revision = result["revision"]
    assert await current_revision_id(conn, site) == revision
    assert latest(settings)["revision"] == revision
    counts = await revision_counts(conn, site, revision)
    assert counts == {k: result["counts"][k] for k in ("posts", "sections", "media")}
    rows = await conn.fetch(
        "SELECT DISTINCT post_id FROM sections WHERE site_id = $1 AND revision_id = $2",
        site,
        revision,
    )
    stored = {r["post_id"] for r in rows}
    assert stored == published_posts(settings, revision)  # no rows from the other source


async def test_two_concurrent_jobs_end_with_the_later_request_current(
    settings: Settings, temporal_client: Client, tmp_path: Path, db: asyncpg.Connection
) -> None:
    site = f"concurrent-{uuid.uuid4().hex[:6]}"
    a, b = two_sources(tmp_path)
    async with running_worker(settings, temporal_client):
        older = await start(temporal_client, settings, job_request(a, site=site))
        newer = await start(temporal_client, settings, job_request(b, site=site))
        handles = [temporal_client.get_workflow_handle(j) for j in (older, newer)]
        result_a, result_b = await asyncio.gather(*(h.result() for h in handles))
    assert result_a["status"] == result_b["status"] == "completed"
    assert result_a["revision"] != result_b["revision"]
    await assert_current_is(db, settings, site, result_b)
    # A either switched first and was replaced, or found B current and stood down. (B's
    # previous revision is whatever was current when B's load began: A's, or none yet.)
    if result_a.get("superseded"):
        assert result_a.get("artifacts", {}).get("latestUpdated") is not True
    else:
        assert result_b.get("previousRevision") in (result_a["revision"], None)


async def wait_for_activity(client: Client, job_id: str, activity_type: str) -> None:
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


async def test_an_older_job_switching_after_a_newer_one_stands_down(
    settings: Settings, temporal_client: Client, tmp_path: Path, db: asyncpg.Connection
) -> None:
    """A is requested first but reaches its switch last (held there); B, requested later,
    finishes in between. A's switch must not move the pointer or latest.json back."""
    site = f"race-{uuid.uuid4().hex[:6]}"
    a, b = two_sources(tmp_path)
    release = tmp_path / "release-switch"
    held = settings.model_copy(
        update={
            "temporal_task_queue": f"{settings.temporal_task_queue}-held",
            "fault_hold_step": SWITCH,
            "fault_release_file": release,
        }
    )
    async with (
        running_worker(settings, temporal_client),
        running_worker(held, temporal_client),
    ):
        older = await start(temporal_client, held, job_request(a, site=site))
        await wait_for_activity(temporal_client, older, "switch_revision")
        result_b = await run_job(temporal_client, settings, job_request(b, site=site))
        assert result_b["status"] == "completed"
        await assert_current_is(db, settings, site, result_b)
        release.touch()
        result_a = await temporal_client.get_workflow_handle(older).result()
    assert result_a["status"] == "completed"
    assert result_a["superseded"] is True
    assert result_a["switch"]["superseded"] is True
    assert result_a["switch"]["current_revision"] == result_b["revision"]
    assert result_a["artifacts"]["latestUpdated"] is False
    await assert_current_is(db, settings, site, result_b)
    # A's revision was loaded (then left behind): complete, never current.
    counts = await revision_counts(db, site, result_a["revision"])
    assert counts["posts"] == result_a["counts"]["posts"]


async def test_a_job_requested_before_the_current_revision_loads_nothing(
    settings: Settings, temporal_client: Client, tmp_path: Path, db: asyncpg.Connection
) -> None:
    site = f"stale-{uuid.uuid4().hex[:6]}"
    a, b = two_sources(tmp_path)
    async with running_worker(settings, temporal_client):
        result_b = await run_job(temporal_client, settings, job_request(b, site=site))
        # A request stamped a minute before B's (say, delayed in a queue) arrives now.
        body = job_request(a, site=site)
        request, parsed = parse_job_request(json.dumps(body).encode())
        job = job_input(request, parsed, settings)
        b_requested = await db.fetchval(
            "SELECT requested_at FROM revisions WHERE site_id = $1 AND revision_id = $2",
            site,
            result_b["revision"],
        )
        assert b_requested is not None and b_requested < parse_time(job.requested_at)
        stale = job.model_copy(update={"requested_at": iso(b_requested - timedelta(minutes=1))})
        await start_job(temporal_client, stale, settings.temporal_task_queue)
        result_a = await temporal_client.get_workflow_handle(body["jobId"]).result()
    assert result_a["status"] == "completed" and result_a["superseded"] is True
    assert result_a["database"]["superseded"] is True and "artifacts" not in result_a
    assert not (Path(settings.artifacts_location) / "dist" / result_a["revision"]).exists()
    assert await revision_counts(db, site, result_a["revision"]) == {
        "posts": 0,
        "sections": 0,
        "media": 0,
    }
    await assert_current_is(db, settings, site, result_b)
