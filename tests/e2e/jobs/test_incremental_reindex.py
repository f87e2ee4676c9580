"""`pressroom reindex --site X [--force]`, run as the real CLI process against the test's
Temporal server, Postgres and in-process worker: the site's recorded source is rebuilt, with
every input embedded again (and sent to the provider) only with --force.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

from pressroom.starter.worker import running_worker
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.pool import connect
from tests.conftest import EXAMPLE_BLOG
from tests.e2e.jobs.test_incremental import fresh_model, openai_settings
from tests.fakes.openai_server import FakeOpenAI, openai_server
from tests.jobs import job_request, run_job
from tests.stored import current_revision_id, revision_counts

__all__ = ["openai_server"]

PRESSROOM = Path(sys.executable).parent / "pressroom"


async def cli(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "PRESSROOM_STATE_DIR": str(settings.state_dir),
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "ARTIFACTS_URL": settings.artifacts_location,
    }
    proc = await asyncio.create_subprocess_exec(
        str(PRESSROOM),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode or 0, out.decode()


async def test_reindex_rebuilds_from_the_recorded_source_and_force_re_embeds(
    settings: Settings, temporal_client: Client, openai_server: FakeOpenAI, pg_url: str
) -> None:
    settings = openai_settings(settings, openai_server, fresh_model())
    site = f"reindex-{uuid.uuid4().hex[:6]}"
    async with running_worker(settings, temporal_client):
        first = await run_job(
            temporal_client, settings, job_request(EXAMPLE_BLOG, site=site, dist="blog")
        )
        assert first["status"] == "completed", first
        full = list(openai_server.inputs)
        assert full

        # Without --force: the same source, every embedding from the cache.
        code, out = await cli(settings, "reindex", "--site", site, "--job-id", f"{site}-a")
        assert code == 0, out
        plain = await temporal_client.get_workflow_handle(f"{site}-a").result()
        assert openai_server.inputs[len(full) :] == []
        assert plain["task"] == "process-all" and plain["revision"] == first["revision"]

        # --force: every input goes to the provider again; the site stays whole.
        code, out = await cli(
            settings, "reindex", "--site", site, "--force", "--job-id", f"{site}-b", "--wait"
        )
        assert code == 0, out
        forced = await temporal_client.get_workflow_handle(f"{site}-b").result()
    assert forced["task"] == "reindex" and forced["status"] == "completed"
    assert sorted(openai_server.inputs[len(full) :]) == sorted(full)
    counts = forced["counts"]
    assert counts["textEmbeddingsComputed"] + counts["mediaEmbeddingsComputed"] == len(full)
    assert counts["postsChanged"] == counts["postsAdded"] == counts["postsRemoved"] == 0
    assert Path(forced["artifacts"]["latest"].removeprefix("file://")).parent.name == "blog"
    conn = await connect(pg_url)
    try:
        # A forced re-embed may yield other vectors for the same input, so it is a new
        # revision: the published one it replaces is never rewritten (issue 10).
        assert forced["revision"] != first["revision"]
        assert await current_revision_id(conn, site) == forced["revision"]
        stored = await revision_counts(conn, site, forced["revision"])
    finally:
        await conn.close()
    assert stored == {k: first["counts"][k] for k in ("posts", "sections", "media")}


async def test_reindex_of_a_site_without_a_recorded_source_asks_for_one(
    settings: Settings,
) -> None:
    code, out = await cli(settings, "reindex", "--site", f"nowhere-{uuid.uuid4().hex[:6]}")
    assert code == 2
    assert "pass --source" in " ".join(out.split())  # rich wraps long lines
