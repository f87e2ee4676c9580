"""A job that fails or is cancelled leaves the site as it was: the current revision in Postgres
(still queryable), its artifacts and `latest.json`. Faults are injected in the real worker
(`PRESSROOM_FAULT_FAIL` fails a step inside its transaction; `PRESSROOM_FAULT_HOLD` holds the
load mid-COPY so the job can be cancelled there), against the jekyll-docs corpus.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from pressroom.api.jobs import describe_job
from pressroom.starter.worker import running_worker
from pressroom.workflows.plans import LOAD_DATABASE, SWITCH
from temporalio.client import Client, WorkflowFailureError

from pressroom.config import Settings
from pressroom.db.pool import connect
from tests.jobs import job_request, run_job, start
from tests.stored import current_revision_id, revision_counts, text_search

EDITED = "docs/_docs/permalinks.md"
DELETED = "docs/_docs/configuration/webrick.md"


@pytest_asyncio.fixture
async def db(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(pg_url)
    yield conn
    await conn.close()


def dist(settings: Settings) -> Path:
    return Path(settings.artifacts_location) / "dist"


def edit_corpus(root: Path, marker: str) -> None:
    """A new revision: one post edited, one deleted."""
    path = root / EDITED
    path.write_text(path.read_text() + f"\n\nA note added for {marker}.\n")
    (root / DELETED).unlink(missing_ok=True)


async def failed_job(client: Client, settings: Settings, body: dict[str, object]) -> dict:
    job_id = await start(client, settings, body)
    with pytest.raises(WorkflowFailureError):
        await client.get_workflow_handle(job_id).result()
    view = await describe_job(client, job_id)
    assert view is not None and view["state"] == "failed", view
    return view


async def site_state(conn: asyncpg.Connection, settings: Settings, site: str) -> tuple:
    """Everything a reader of the site sees: current revision, its rows, latest.json bytes."""
    current = await current_revision_id(conn, site)
    assert current is not None
    counts = await revision_counts(conn, site, current)
    return current, counts, (dist(settings) / "latest.json").read_bytes()


async def test_a_job_failing_in_its_database_step_changes_nothing(
    settings: Settings, temporal_client: Client, jekyll_copy: Path, db: asyncpg.Connection
) -> None:
    site = f"fail-db-{uuid.uuid4().hex[:6]}"
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    assert first["status"] == "completed", first
    before = await site_state(db, settings, site)
    published_before = sorted(p.name for p in dist(settings).iterdir())

    edit_corpus(jekyll_copy, "the failing job")
    faulty = settings.model_copy(update={"fault_fail_step": LOAD_DATABASE})
    async with running_worker(faulty, temporal_client):
        view = await failed_job(temporal_client, faulty, job_request(jekyll_copy, site=site))
    assert "injected fault in load-database" in view["failure"]
    doomed = view["revision"]
    assert doomed and doomed != first["revision"]

    # Postgres: same current revision, same rows; the failed load left nothing behind.
    assert await site_state(db, settings, site) == before
    assert (
        await db.fetchval(
            "SELECT count(*) FROM revisions WHERE site_id = $1 AND revision_id = $2", site, doomed
        )
        == 0
    )
    assert await revision_counts(db, site, doomed) == {
        "posts": 0,
        "sections": 0,
        "media": 0,
    }
    # Artifacts: nothing new published, latest.json byte for byte the same.
    assert sorted(p.name for p in dist(settings).iterdir()) == published_before
    # Still queryable: the deleted post's page is found in the current revision.
    hits = await text_search(db, site, "custom headers My-Other-Value")
    assert DELETED.removesuffix(".md") in {h["postId"] for h in hits}


async def test_a_job_failing_in_its_switch_step_changes_nothing_until_rerun(
    settings: Settings, temporal_client: Client, jekyll_copy: Path, db: asyncpg.Connection
) -> None:
    site = f"fail-switch-{uuid.uuid4().hex[:6]}"
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    before = await site_state(db, settings, site)

    edit_corpus(jekyll_copy, "the switch")
    faulty = settings.model_copy(update={"fault_fail_step": SWITCH})
    async with running_worker(faulty, temporal_client):
        view = await failed_job(temporal_client, faulty, job_request(jekyll_copy, site=site))
    assert "injected fault in switch-revision" in view["failure"]
    staged = view["revision"]
    # Loaded and published, but neither current nor pointed to.
    assert await site_state(db, settings, site) == before
    assert (await revision_counts(db, site, staged))["posts"] == (first["counts"]["posts"] - 1)
    assert (dist(settings) / staged / "manifest.json").is_file()

    # The same source again, with a healthy worker: that revision becomes current.
    async with running_worker(settings, temporal_client):
        rerun = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    assert rerun["status"] == "completed" and rerun["revision"] == staged
    current, counts, latest = await site_state(db, settings, site)
    assert current == staged and counts["posts"] == first["counts"]["posts"] - 1
    assert f'"revision": "{staged}"' in latest.decode()


async def wait_for_sections_copy(conn: asyncpg.Connection, timeout_s: float = 90) -> None:
    """Until some backend is inside a COPY into sections (the load, held mid-transaction)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE state = 'active' AND query LIKE 'COPY %sections%' "
            "AND pid <> pg_backend_pid()"
        )
        if busy:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the load never reached the sections COPY")


async def test_a_job_cancelled_mid_load_changes_nothing(
    settings: Settings, temporal_client: Client, jekyll_copy: Path, db: asyncpg.Connection
) -> None:
    site = f"cancel-{uuid.uuid4().hex[:6]}"
    async with running_worker(settings, temporal_client):
        first = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    before = await site_state(db, settings, site)

    edit_corpus(jekyll_copy, "the cancelled job")
    held = settings.model_copy(update={"fault_hold_step": "load-database:mid-copy"})
    async with running_worker(held, temporal_client):
        job_id = await start(temporal_client, held, job_request(jekyll_copy, site=site))
        await wait_for_sections_copy(db)
        handle = temporal_client.get_workflow_handle(job_id)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        view = await describe_job(temporal_client, job_id)  # the worker answers the query
    assert view is not None and view["state"] == "cancelled", view
    assert await site_state(db, settings, site) == before
    assert not (dist(settings) / view["revision"]).exists()

    # The cancelled load let go of the site: the next job switches normally.
    async with running_worker(settings, temporal_client):
        after = await run_job(temporal_client, settings, job_request(jekyll_copy, site=site))
    assert after["status"] == "completed" and after["previousRevision"] == first["revision"]
    assert await current_revision_id(db, site) == after["revision"]
