"""Fault matrix, worker crashes: a worker SIGKILLed at each step (and at the sharpest points
inside steps) loses nothing. A new worker finishes the job with the same published files and
the same database rows as an uninterrupted run, embedding requests already answered are not
sent again, a load committed just before the kill is not duplicated, and `latest.json` names
the old revision until the retried step completes the flip.

Each test arms a worker subprocess with `PRESSROOM_FAULT_HOLD=<point>` (pressroom/faults.py),
waits for its "holding at" log line, SIGKILLs it and lets an in-process worker finish.
"""

from __future__ import annotations

import asyncio
import shutil
import traceback
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from pressroom.starter.worker import running_worker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from pressroom.config import Settings
from pressroom.db.pool import connect
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.crash_drills import (
    WAIT_S,
    drill_settings,
    held_worker,
    holding_line,
    nonce_corpus,
    published,
    revision_rows,
    sigkill,
    start_attempts,
    wait_for_log,
)
from tests.fakes.fault_receiver import callback_receiver
from tests.fakes.openai_server import FakeOpenAI
from tests.jobs import job_request, run_job, start
from tests.stored import current_revision_id

SITE = "drill"
DATA_FILES = ("posts.json", "media.json", "search.json")  # the manifest also holds a time
CONCURRENT = 5  # kill scenarios run side by side: each waits mostly on timeouts


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return drill_settings(settings)


@pytest_asyncio.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI.running() as server:
        yield server


@dataclass(frozen=True)
class Reference:
    revision: str
    rows: dict[str, list[str]]
    files: dict[str, str]  # digest of each published data file, site left out


@pytest_asyncio.fixture(scope="module")
async def reference(
    pg_url: str, temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    """One uninterrupted run of the example blog, as the yardstick for every crash."""
    base = tmp_path_factory.mktemp("reference")
    settings = drill_settings(
        Settings(
            state_dir=base / "state",
            temporal_address=temporal_env.client.service_client.config.target_host,
            temporal_task_queue=f"ref-{uuid.uuid4().hex[:12]}",
            database_url=pg_url,
            artifacts_url=str(base / "artifacts"),
        )
    )
    site = f"{SITE}-reference"
    async with running_worker(settings, temporal_env.client):
        result = await run_job(
            temporal_env.client, settings, job_request(EXAMPLE_BLOG, site=site, dist="ref")
        )
    assert result["status"] == "completed", result
    latest, files = published(base / "artifacts", "ref", site_free=True)
    assert latest["revision"] == result["revision"]
    rows = await revision_rows(pg_url, site, result["revision"])
    assert len(rows["posts"]) == result["counts"]["posts"] > 0
    return Reference(result["revision"], rows, {n: files[n] for n in DATA_FILES})


# (fault point, the activity it interrupts)
KILL_POINTS = [
    ("fetch", "fetch_source"),
    ("parse", "parse_source"),
    ("embed-text", "embed_batch"),
    ("embed-images", "embed_batch"),
    ("load-database", "load_database"),
    ("load-database:after-commit", "load_database"),
    ("build-artifacts", "build_artifacts"),
    ("publish", "publish_artifacts"),
    ("switch-revision", "switch_revision"),
    ("callback", "send_callback"),
    ("callback:after-send", "send_callback"),
]


async def _committed_by(pg_url: str, site: str, revision: str) -> str | None:
    conn = await connect(pg_url, run_migrations=False)
    try:
        return await conn.fetchval(
            "SELECT job_id FROM revisions WHERE site_id = $1 AND revision_id = $2", site, revision
        )
    finally:
        await conn.close()


async def _kill_and_recover(
    point: str,
    activity_type: str,
    base: Settings,
    client: Client,
    root: Path,
    pg_url: str,
    reference: Reference,
) -> None:
    """One scenario, on its own task queue, site and artifact folder."""
    slug = point.replace(":", "-")
    settings = base.model_copy(
        update={
            "temporal_task_queue": f"{base.temporal_task_queue}-{slug}",
            "artifacts_url": str(root / slug / "artifacts"),
        }
    )
    site, log = f"{SITE}-{slug}", root / f"{slug}.log"
    (root / slug).mkdir(parents=True)
    async with callback_receiver() as receiver:
        body = job_request(EXAMPLE_BLOG, site=site, dist="dist", callback_url=receiver.url)
        async with held_worker(settings, point, log) as doomed:
            job_id = await start(client, settings, body)
            await wait_for_log(log, holding_line(point), doomed)
            if point == "load-database:after-commit":
                # The load is committed (its job id is on the revision) before the kill.
                assert await _committed_by(pg_url, site, reference.revision) == job_id
            sigkill(doomed)

        async with running_worker(settings, client):
            handle = client.get_workflow_handle(job_id)
            result = await asyncio.wait_for(handle.result(), WAIT_S)

    assert result["status"] == "completed", result
    assert result["revision"] == reference.revision
    latest, files = published(Path(settings.artifacts_location), "dist", site_free=True)
    assert latest["revision"] == reference.revision
    assert {n: files[n] for n in DATA_FILES} == reference.files, "published data differs"
    # Same rows, none twice (a duplicate would show as an extra row or a second revision).
    assert await revision_rows(pg_url, site, reference.revision) == reference.rows

    attempts = start_attempts(await handle.fetch_history(), activity_type)
    assert max(attempts) >= 2, f"{activity_type} was not retried after the kill: {attempts}"

    # One delivery, or two of the same message when the kill came right after sending.
    sent = receiver.accepted
    assert len(sent) == (2 if point == "callback:after-send" else 1), len(sent)
    assert {d.webhook_id for d in sent} == {sent[0].webhook_id}
    assert {d.body for d in sent} == {sent[0].body}
    assert sent[0].json()["status"] == "completed"


async def test_worker_sigkilled_at_each_step_the_job_completes_with_identical_output(
    settings: Settings,
    temporal_client: Client,
    tmp_path: Path,
    pg_url: str,
    reference: Reference,
) -> None:
    gate = asyncio.Semaphore(CONCURRENT)

    async def scenario(point: str, activity_type: str) -> str | None:
        async with gate:
            try:
                await _kill_and_recover(
                    point, activity_type, settings, temporal_client, tmp_path, pg_url, reference
                )
            except Exception:
                return f"killed at {point}:\n{traceback.format_exc()}"
        return None

    outcomes = await asyncio.gather(*(scenario(p, a) for p, a in KILL_POINTS))
    failures = [o for o in outcomes if o]
    assert not failures, "\n".join(failures)


async def _flip_scenario(
    task: str, point: str, base: Settings, client: Client, root: Path, pg_url: str
) -> None:
    """An old revision is published; the job for a new one is killed at `point`, between
    uploading the revision's files and flipping `latest.json` (and, for process-all, the
    site's current revision in Postgres, which flips in the same switch transaction)."""
    settings = base.model_copy(
        update={
            "temporal_task_queue": f"{base.temporal_task_queue}-{task}",
            "artifacts_url": str(root / task / "artifacts"),
        }
    )
    source = root / task / "blog"
    shutil.copytree(EXAMPLE_BLOG, source)
    site, dist = f"flip-{task}", "flip"
    artifacts = Path(settings.artifacts_location)
    with_db = task == "process-all"

    async def current() -> str | None:
        if not with_db:
            return None
        conn = await connect(pg_url, run_migrations=False)
        try:
            return await current_revision_id(conn, site)
        finally:
            await conn.close()

    log = root / f"{task}.log"
    async with held_worker(settings, point, log) as doomed:
        # The old revision, by a worker of its own queue, while the doomed one starts up.
        old_queue = settings.model_copy(
            update={"temporal_task_queue": f"{settings.temporal_task_queue}-old"}
        )
        async with running_worker(old_queue, client):
            old = await run_job(
                client, old_queue, job_request(source, task=task, site=site, dist=dist)
            )
        assert published(artifacts, dist)[0]["revision"] == old["revision"]
        assert await current() == (old["revision"] if with_db else None)

        post = next((source / "_posts").iterdir())  # a new revision of the source
        post.write_text(post.read_text() + "\n\n## Addendum\n\nA late correction.\n")
        job_id = await start(client, settings, job_request(source, task=task, site=site, dist=dist))
        await wait_for_log(log, holding_line(point), doomed)
        uploaded = [p for p in (artifacts / dist).iterdir() if p.is_dir()]
        new_folder = next(p for p in uploaded if p.name != old["revision"])
        assert {p.name for p in new_folder.iterdir()} >= {*DATA_FILES, "manifest.json"}
        assert published(artifacts, dist)[0]["revision"] == old["revision"]
        # The switch transaction has moved the pointer but not committed: nobody sees it.
        assert await current() == (old["revision"] if with_db else None)
        sigkill(doomed)
    # Dead worker, flip not done: readers still get the complete old revision.
    assert published(artifacts, dist)[0]["revision"] == old["revision"]
    assert await current() == (old["revision"] if with_db else None)

    async with running_worker(settings, client):
        result = await asyncio.wait_for(client.get_workflow_handle(job_id).result(), WAIT_S)
    assert result["status"] == "completed"
    assert result["revision"] == new_folder.name != old["revision"]
    latest, files = published(artifacts, dist)
    assert latest["revision"] == result["revision"]
    assert await current() == (result["revision"] if with_db else None)
    for name, meta in result["artifacts"]["files"].items():
        assert files[name] == meta["sha256"], name


async def test_killed_between_upload_and_latest_flip_latest_names_the_old_revision(
    settings: Settings, temporal_client: Client, tmp_path: Path, pg_url: str
) -> None:
    """Both ways `latest.json` gets written: process-all's switch step (with the database
    pointer) and parse-only's publish step, side by side."""
    variants = [
        ("process-all", "switch-revision:before-latest"),
        ("parse-only", "publish:before-latest"),
    ]

    async def variant(task: str, point: str) -> str | None:
        try:
            await _flip_scenario(task, point, settings, temporal_client, tmp_path, pg_url)
        except Exception:
            return f"{task}, killed at {point}:\n{traceback.format_exc()}"
        return None

    failures = [f for f in await asyncio.gather(*(variant(t, p) for t, p in variants)) if f]
    assert not failures, "\n".join(failures)


async def test_embedding_requests_answered_before_a_kill_are_not_sent_again(
    settings: Settings, temporal_client: Client, tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """Several small batches, one at a time; the worker dies in batch 2 right after its
    request was answered. Nothing already answered reaches the provider twice."""
    corpus = nonce_corpus(tmp_path / "corpus", posts=6, sections=3, nonce=uuid.uuid4().hex)
    settings = settings.model_copy(
        update={
            "embedding_provider": "openai",
            "embedding_model": "text-embedding-3-small",
            "embedding_dimensions": 64,
            "openai_base_url": fake_openai.base_url,
            "openai_api_key": None,
            "embed_batch_size": 5,  # 24 sections: batches of 5, 5, 5, 5, 4
            "embed_concurrency": 1,
        }
    )
    point = "embed-text:batch-2:after-request-1"
    log = tmp_path / "doomed.log"
    async with held_worker(settings, point, log) as doomed:
        job_id = await start(temporal_client, settings, job_request(corpus, site="embed-kill"))
        await wait_for_log(log, holding_line(point), doomed)
        before_kill = list(fake_openai.inputs)
        sigkill(doomed)
    assert len(before_kill) == 15  # batches 0, 1 and 2 were sent, once each

    async with running_worker(settings, temporal_client):
        result = await asyncio.wait_for(
            temporal_client.get_workflow_handle(job_id).result(), WAIT_S
        )
    assert result["status"] == "completed", result
    assert result["counts"]["sections"] == 24
    sent = fake_openai.inputs
    assert len(sent) == len(set(sent)) == 24, "an input reached the provider twice"
    assert sent[:15] == before_kill
    assert (
        result["counts"]["textEmbeddingsComputed"] + result["counts"]["textEmbeddingsReused"] == 24
    )
