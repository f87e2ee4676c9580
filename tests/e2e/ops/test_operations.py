"""Operations: JSON logs with job fields, Prometheus metrics from the worker (Temporal SDK +
Pressroom) and the API, `pressroom jobs` through Temporal visibility, and graceful shutdown
of worker and API on SIGTERM without losing a job."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from pressroom.api.jobs import list_jobs
from pressroom.api.temporal import connect_client
from pressroom.starter.worker import metrics_runtime, running_worker
from pydantic import SecretStr
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.runtime import logs
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.ops import (
    activity_attempts,
    free_port,
    loopback_settings,
    process_env,
    run_cli,
    spawned,
    wait_for_activity,
)
from tests.jobs import job_request, run_job, start


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return loopback_settings(settings)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# --- logs --------------------------------------------------------------------------------------


def test_json_formatter_adds_context_and_scrubs_secrets() -> None:
    out = io.StringIO()
    handler = logs.make_handler("json", out)
    logger = logging.getLogger("pressroom.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logs.register_secrets(["configured-secret-value-1"])
    try:
        with logs.log_context(jobId="j-1", step="fetch", attempt=2):
            logger.info(
                "fetching https://user:pw-123456@example.com/r.git?token=abcdef&x=1 with "
                "configured-secret-value-1, Authorization: Bearer tok-abcdef",
                extra={"bytes": 42},
            )
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    first, second = json_lines(out.getvalue())
    assert first["jobId"] == "j-1" and first["step"] == "fetch" and first["attempt"] == 2
    assert first["level"] == "info" and first["logger"] == "pressroom.test.logs"
    assert first["bytes"] == 42
    for secret in ("pw-123456", "abcdef", "configured-secret-value-1", "tok-abcdef"):
        assert secret not in out.getvalue()
    assert "https://***@example.com/r.git?token=***&x=1" in first["msg"]
    assert "jobId" not in second


def test_secret_values_cover_every_secret_setting() -> None:
    s = Settings(
        webhook_secret=SecretStr("whsec-value-1"),
        api_tokens=SecretStr("tok-one-1, tok-two-2"),
        database_url=SecretStr("postgresql://u:db-pass-9@h/db"),
    )
    values = logs.secret_values(s)
    for expected in ("whsec-value-1", "tok-one-1", "tok-two-2", "db-pass-9"):
        assert expected in values


async def test_worker_logs_are_json_with_job_step_and_attempt(
    settings: Settings, temporal_client: Client
) -> None:
    out = io.StringIO()
    handler = logs.make_handler("json", out)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        async with running_worker(settings, temporal_client):
            body = job_request(EXAMPLE_BLOG, task="parse-only")
            result = await run_job(temporal_client, settings, body)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert result["status"] == "completed"
    mine = [r for r in json_lines(out.getvalue()) if r.get("jobId") == body["jobId"]]
    steps = {r["step"]: r for r in mine if r.get("msg", "").startswith("step ")}
    assert set(steps) >= {"fetch", "parse", "build-artifacts", "publish"}
    for step, record in steps.items():
        assert record["attempt"] == 1
        assert record["outcome"] == "completed"
        assert record["activity"]
        assert record["ts"] and record["level"] == "info", step


# --- metrics -----------------------------------------------------------------------------------


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback test URL
        return resp.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def test_worker_serves_sdk_and_pressroom_metrics(settings: Settings) -> None:
    port = free_port()
    cfg = settings.model_copy(update={"metrics_port": port})
    runtime = metrics_runtime(cfg)
    assert runtime is not None
    client = await connect_client(cfg, runtime=runtime)
    async with running_worker(cfg, client):
        result = await run_job(client, cfg, job_request(EXAMPLE_BLOG, site="metrics"))
    assert result["status"] == "completed"
    text = await asyncio.to_thread(scrape, f"http://127.0.0.1:{port}/metrics")
    # Temporal SDK runtime metrics ...
    assert sample(text, "temporal_workflow_completed_total") >= 1
    assert sample(text, "temporal_activity_execution_latency_count") >= 1
    # ... and ours.
    assert sample(text, "pressroom_jobs_total", outcome="completed", task="process-all") == 1
    for step in ("fetch", "parse", "embed-text", "load-database", "publish"):
        assert sample(text, "pressroom_step_duration_seconds_count", step=step) >= 1, step
    counts = result["counts"]
    embedded = sample(text, "pressroom_embedding_inputs_total", kind="text")
    assert embedded == counts["textEmbeddingsComputed"] + counts["textEmbeddingsReused"] > 0
    published = sum(f["bytes"] for f in result["artifacts"]["files"].values())
    assert sample(text, "pressroom_published_bytes_total") == published


async def test_api_metrics_and_access_log(settings: Settings, api_url: str) -> None:
    out = io.StringIO()
    handler = logs.make_handler("json", out)
    access = logging.getLogger("pressroom.api.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.get(f"{api_url}/healthz") as r:
                    assert r.status == 200
            async with http.get(f"{api_url}/jobs/metrics-missing") as r:
                assert r.status == 404
            async with http.get(f"{api_url}/metrics") as r:
                assert r.status == 200
                text = await r.text()
    finally:
        access.removeHandler(handler)
    name = "pressroom_api_requests_total"
    assert sample(text, name, method="GET", route="/healthz", status="200") == 3
    assert sample(text, name, method="GET", route="/jobs/{job_id}", status="404") == 1
    assert sample(text, "pressroom_api_request_duration_seconds_count", route="/healthz") == 3
    lines = json_lines(out.getvalue())
    missing = [r for r in lines if r.get("jobId") == "metrics-missing"]
    assert missing and missing[0]["status"] == 404 and missing[0]["path"].startswith("/jobs/")
    assert all("durationMs" in r for r in lines)


# --- jobs by state -----------------------------------------------------------------------------


async def test_jobs_lists_recent_jobs_by_state(
    settings: Settings, temporal_client: Client, worker: None
) -> None:
    done = job_request(EXAMPLE_BLOG, task="parse-only", site="listed")
    failed = job_request("/no/such/source", task="parse-only", site="listed")
    assert (await run_job(temporal_client, settings, done))["status"] == "completed"
    await start(temporal_client, settings, failed)
    with pytest.raises(Exception):  # noqa: B017 - any failure type; the state is checked below
        await temporal_client.get_workflow_handle(failed["jobId"]).result()

    async def listed(state: str, job_id: str) -> dict:
        # Visibility is eventually consistent: poll briefly.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for job in await list_jobs(temporal_client, state, limit=200):
                if job["jobId"] == job_id:
                    return job
            await asyncio.sleep(0.3)
        raise AssertionError(f"{job_id} not listed as {state}")

    row = await listed("completed", done["jobId"])
    assert row["task"] == "parse-only" and row["site"] == "listed" and row["closedAt"]
    assert (await listed("failed", failed["jobId"]))["state"] == "failed"
    with pytest.raises(ValueError):
        await list_jobs(temporal_client, "bogus'; DROP", limit=1)

    env = process_env(settings)
    cli = await asyncio.to_thread(
        run_cli, env, "jobs", "--state", "failed", "--json", "--limit", "200"
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    rows = [json.loads(line) for line in cli.stdout.splitlines() if line.startswith("{")]
    assert failed["jobId"] in {r["jobId"] for r in rows}
    assert all(r["state"] == "failed" for r in rows)
    table = await asyncio.to_thread(run_cli, env, "jobs", "--limit", "5")
    assert table.returncode == 0 and "jobId" in table.stdout


# --- graceful shutdown -------------------------------------------------------------------------


async def test_sigterm_drains_the_worker_and_the_job_finishes(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    env = process_env(
        settings,
        PRESSROOM_FAULT_HOLD="load-database",
        PRESSROOM_FAULT_RELEASE=str(release),
        WORKER_SHUTDOWN_GRACE_SECONDS="60",
        LOG_FORMAT="json",
    )
    log = tmp_path / "worker.log"
    with spawned("pressroom.starter.worker", env, log) as doomed:
        job_id = await start(temporal_client, settings, job_request(EXAMPLE_BLOG, site="drain"))
        await wait_for_activity(temporal_client, job_id, "load_database")
        doomed.send_signal(signal.SIGTERM)
        # Draining: the worker takes no new tasks but lets its running step finish.
        deadline = time.monotonic() + 60
        while "shutting down" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        assert doomed.poll() is None, "the worker waits for its running activity"
        release.touch()
        code = await asyncio.to_thread(doomed.wait, 90)
    assert code == 0, log.read_text()
    # The rest of the job runs on another worker.
    async with running_worker(settings, temporal_client):
        result = await asyncio.wait_for(
            temporal_client.get_workflow_handle(job_id).result(), timeout=120
        )
    assert result["status"] == "completed"
    attempts = await activity_attempts(temporal_client, job_id)
    assert max(attempts) == 1, "the drained step finished; nothing was retried"
    records = json_lines(log.read_text())
    assert any(r["msg"] == "worker stopped" for r in records)
    load = [r for r in records if r.get("step") == "load-database" and "outcome" in r]
    assert load and load[0]["outcome"] == "completed" and load[0]["jobId"] == job_id


async def test_sigterm_stops_the_api_cleanly(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = process_env(settings, API_PORT=str(port), LOG_FORMAT="json")
    log = tmp_path / "api.log"
    with spawned("pressroom.api", env, log) as proc:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0, log.read_text()
    records = json_lines(log.read_text())
    messages = [r["msg"] for r in records]
    assert any("authentication is OFF" in m for m in messages)
    assert "API stopped" in messages
    assert any(r.get("path") == "/healthz" and r.get("status") == 200 for r in records)


async def test_sigterm_past_the_grace_period_hands_the_step_to_another_worker(
    settings: Settings, temporal_client: Client, tmp_path: Path
) -> None:
    env = process_env(
        settings,
        PRESSROOM_FAULT_HOLD="load-database",
        WORKER_SHUTDOWN_GRACE_SECONDS="1",
        LOG_FORMAT="json",
    )
    log = tmp_path / "worker.log"
    with spawned("pressroom.starter.worker", env, log) as doomed:
        job_id = await start(temporal_client, settings, job_request(EXAMPLE_BLOG, site="grace"))
        await wait_for_activity(temporal_client, job_id, "load_database")
        doomed.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(doomed.wait, 90)
    assert code == 0, log.read_text()
    async with running_worker(settings, temporal_client):
        result = await asyncio.wait_for(
            temporal_client.get_workflow_handle(job_id).result(), timeout=120
        )
    assert result["status"] == "completed"
    attempts = await activity_attempts(temporal_client, job_id)
    assert max(attempts) >= 2, "the interrupted step was retried on the other worker"
    load = [r for r in json_lines(log.read_text()) if r.get("step") == "load-database"]
    assert any(r.get("outcome") == "cancelled" for r in load), load
