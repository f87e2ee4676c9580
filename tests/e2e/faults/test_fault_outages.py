"""Fault matrix, outages of what a job depends on: the Temporal server restarted mid-job,
Postgres stopped in the middle of the load transaction, the callback receiver down for a
while, and the same job posted twice at once. Each ends with the job completed exactly once.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pressroom.api.temporal import connect_client
from pydantic import SecretStr
from temporalio.client import Client

from pressroom.callbacks import webhooks
from pressroom.config import Settings
from pressroom.db.pool import connect
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.crash_drills import (
    WAIT_S,
    DevServer,
    drill_settings,
    executions,
    held_worker,
    holding_line,
    start_attempts,
    stoppable_postgres,
    wait_for_attempt,
    wait_for_log,
)
from tests.fakes.fault_receiver import CallbackReceiver, callback_receiver
from tests.jobs import job_request, start


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return drill_settings(settings)


async def test_temporal_server_restarted_mid_job_the_job_completes(
    settings: Settings, tmp_path: Path
) -> None:
    """SIGKILL the dev server while a step runs, start it again on the same SQLite file and
    port: the worker reconnects by itself and the job finishes."""
    dev = DevServer(tmp_path / "temporal.db", tmp_path / "temporal.log")
    await dev.start()
    try:
        settings = settings.model_copy(update={"temporal_address": dev.address})
        client = await connect_client(settings)
        release, log = tmp_path / "release", tmp_path / "worker.log"
        async with held_worker(settings, "parse", log, release=release) as worker:
            job_id = await start(client, settings, job_request(EXAMPLE_BLOG, site="restart"))
            await wait_for_log(log, holding_line("parse"), worker)

            dev.kill()
            release.touch()  # the step finishes while the server is down...
            await wait_for_log(log, "fault injection: released at parse", worker)
            # ...and the server stays down longer than the step's heartbeat timeout: not a
            # synchronisation wait, the length of the outage (any length must work).
            await asyncio.sleep(settings.activity_heartbeat_seconds + 1)
            await dev.start()  # same SQLite file, same port

            client = await connect_client(settings)
            handle = client.get_workflow_handle(job_id)
            result = await asyncio.wait_for(handle.result(), WAIT_S)
            assert worker.poll() is None, "the same worker process finished the job"
        assert result["status"] == "completed", result
        assert result["counts"]["posts"] > 0
        history = await handle.fetch_history()
        assert start_attempts(history, "fetch_source") == [1], "fetch ran once, before the restart"
    finally:
        dev.kill()


async def _site_rows(url: str, site: str) -> dict[str, int]:
    conn = await connect(url, run_migrations=False)
    try:
        return {
            table: await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE site_id = $1",  # noqa: S608 - fixed names
                site,
            )
            for table in ("posts", "sections", "media")
        }
    finally:
        await conn.close()


async def test_postgres_stopped_during_the_load_is_retried_and_leaves_no_partial_rows(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    """The load holds inside its transaction (posts copied, sections COPY open); Postgres
    is stopped, attempts fail while it is down, then it comes back and a retry loads the
    whole revision. At no point does the site have some of the rows."""
    site = "pg-outage"
    # Not under pytest's tmp dir: as root, pgserver runs Postgres as another user.
    pgdata = Path(tempfile.mkdtemp(prefix="pressroom-pgdrill-"))
    try:
        with stoppable_postgres(pgdata) as pg:
            settings = settings.model_copy(update={"database_url": SecretStr(pg.url)})
            release, log = tmp_path / "release", tmp_path / "worker.log"
            point = "load-database:mid-copy"
            async with held_worker(settings, point, log, release=release) as worker:
                job_id = await start(
                    temporal_client, settings, job_request(EXAMPLE_BLOG, site=site)
                )
                await wait_for_log(log, holding_line(point), worker)

                pg.stop()
                release.touch()  # the open COPY now fails, and so do the retries
                failure = await wait_for_attempt(temporal_client, job_id, "load_database", 3)
                assert failure, "the attempts while Postgres was down failed"

                pg.start()
                await pg.ready()
                during = await _site_rows(pg.url, site)
                handle = temporal_client.get_workflow_handle(job_id)
                result = await asyncio.wait_for(handle.result(), WAIT_S)

            assert result["status"] == "completed", result
            final = await _site_rows(pg.url, site)
            assert final == {k: result["counts"][k] for k in ("posts", "sections", "media")}
            # Right after the restart: nothing of the interrupted transaction, or (if the
            # retry already ran) all of it, never a part.
            assert during in ({"posts": 0, "sections": 0, "media": 0}, final), during
            history = await handle.fetch_history()
            assert max(start_attempts(history, "load_database")) >= 3
            conn = await connect(pg.url, run_migrations=False)
            try:
                revisions = await conn.fetch(
                    "SELECT revision_id, state FROM revisions WHERE site_id = $1", site
                )
            finally:
                await conn.close()
            assert [(r["revision_id"], r["state"]) for r in revisions] == [
                (result["revision"], "ready")
            ]
    finally:
        shutil.rmtree(pgdata, ignore_errors=True)


async def _job_view(http: aiohttp.ClientSession, api_url: str, job_id: str) -> dict[str, Any]:
    async with http.get(f"{api_url}/jobs/{job_id}") as resp:
        assert resp.status == 200
        return dict(await resp.json())


@pytest.mark.usefixtures("worker")
async def test_callback_receiver_down_delivered_later_with_the_same_webhook_id(
    settings: Settings, temporal_client: Client, api_url: str
) -> None:
    receiver = CallbackReceiver(503)  # up but failing, then down, then up and accepting
    await receiver.start()
    try:
        body = job_request(EXAMPLE_BLOG, site="hook-outage", callback_url=receiver.url)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{api_url}/process", json=body) as resp:
                assert resp.status == 202, await resp.text()
            job_id = body["jobId"]
            await receiver.wait_for(1)
            await receiver.stop()  # connection refused from now on
            # Two more attempts failed against the closed port.
            await wait_for_attempt(temporal_client, job_id, "send_callback", 4)
            view = await _job_view(http, api_url, job_id)
            assert view["state"] == "completed", view  # readable while delivery retries
            assert view["result"]["revision"]
            assert view["currentStep"] is None

            await receiver.start()  # back, on the same port
            # The job completes only once the callback activity succeeded.
            result = await asyncio.wait_for(
                temporal_client.get_workflow_handle(job_id).result(), WAIT_S
            )
            delivered = list(receiver.deliveries)
            after = await _job_view(http, api_url, job_id)
    finally:
        await receiver.stop()

    assert result["status"] == "completed"
    assert after["state"] == "completed" and after["result"]["revision"] == result["revision"]
    assert [d.status for d in delivered] == [503, 200], "the port was closed in between"
    assert len({d.webhook_id for d in delivered}) == 1, "one message id across attempts"
    assert len({d.body for d in delivered}) == 1, "identical body bytes on every attempt"
    last = delivered[-1]
    secret = settings.webhook_secret
    assert secret is not None
    webhooks.webhook(secret.get_secret_value()).verify(last.body, last.headers)
    assert last.json()["status"] == "completed"
    history = await temporal_client.get_workflow_handle(body["jobId"]).fetch_history()
    assert max(start_attempts(history, "send_callback")) >= 4


@pytest.mark.usefixtures("worker")
async def test_same_job_posted_twice_concurrently_runs_once_and_calls_back_once(
    settings: Settings, temporal_client: Client, api_url: str
) -> None:
    async with callback_receiver() as receiver, aiohttp.ClientSession() as http:
        body = job_request(EXAMPLE_BLOG, site="twice", callback_url=receiver.url)

        async def post() -> tuple[int, dict[str, Any]]:
            async with http.post(f"{api_url}/process", json=body) as resp:
                return resp.status, dict(await resp.json())

        (status_a, a), (status_b, b) = await asyncio.gather(post(), post())
        assert (status_a, status_b) == (202, 202), (a, b)
        assert a["jobId"] == b["jobId"] == body["jobId"]
        assert a["runId"] == b["runId"]
        assert sorted([a["created"], b["created"]]) == [False, True]

        handle = temporal_client.get_workflow_handle(body["jobId"])
        result = await asyncio.wait_for(handle.result(), WAIT_S)
        assert result["status"] == "completed"
        assert await executions(temporal_client, body["jobId"]) == 1
        # The callback activity completes before the workflow does: the count is final.
        assert len(receiver.deliveries) == 1
        assert receiver.deliveries[0].json()["status"] == "completed"
