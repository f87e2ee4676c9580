"""Callback delivery end to end (real Temporal, real worker, a real receiver on loopback):
the same `webhook-id` and body bytes on every attempt with a fresh signature each time, a
jittered retry schedule bounded by the delivery window, Retry-After honoured, 410 final."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from pressroom.starter.worker import running_worker
from pressroom.workflows import plans
from temporalio.client import Client

from pressroom.callbacks import webhooks
from pressroom.config import Settings
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.ops import Answer, Hit, Receiver, loopback_settings, wait_for_activity
from tests.jobs import job_request, start

# The delivery schedule's bounds, as the callback activity passes them.
BOUNDS = {"initial_s": plans.CALLBACK_INITIAL_S, "max_s": plans.CALLBACK_MAX_INTERVAL_S}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return loopback_settings(settings)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


def secret(settings: Settings) -> str:
    assert settings.webhook_secret is not None
    return settings.webhook_secret.get_secret_value()


def assert_same_message(hits: list[Hit], settings: Settings, job_id: str, run_id: str) -> None:
    """Every attempt: the same id and body bytes, each signed afresh for its own timestamp."""
    assert {h.headers["webhook-id"] for h in hits} == {f"msg_{job_id}_{run_id}"}
    assert len({h.body for h in hits}) == 1
    for hit in hits:
        # The package checks each signature against the hit's own timestamp (and its age).
        webhooks.webhook(secret(settings)).verify(hit.body, hit.headers)


async def run(client: Client, settings: Settings, url: str) -> tuple[str, str, dict]:
    body = job_request(EXAMPLE_BLOG, task="parse-only", callback_url=url)
    job_id = await start(client, settings, body)
    handle = client.get_workflow_handle(job_id)
    result = await asyncio.wait_for(handle.result(), timeout=180)
    desc = await handle.describe()
    return job_id, desc.run_id or "", result


async def callback_failures(client: Client, job_id: str) -> list[str]:
    history = await client.get_workflow_handle(job_id).fetch_history()
    return [
        e.activity_task_failed_event_attributes.failure.message
        for e in history.events
        if e.HasField("activity_task_failed_event_attributes")
    ]


# --- the schedule ----------------------------------------------------------------------------


def test_retry_delay_grows_with_jitter_and_honours_retry_after() -> None:
    import random

    rng = random.Random(7)
    for attempt in range(1, 20):
        base = min(plans.CALLBACK_MAX_INTERVAL_S, plans.CALLBACK_INITIAL_S * 2 ** (attempt - 1))
        delays = {webhooks.retry_delay(attempt, rng=rng, **BOUNDS) for _ in range(20)}
        assert all(base / 2 <= d < base for d in delays)
        assert len(delays) > 1, "jittered"
    assert webhooks.retry_delay(3, retry_after=42.0, **BOUNDS) == 42.0
    assert webhooks.retry_delay(30, **BOUNDS) < plans.CALLBACK_MAX_INTERVAL_S


def test_callback_policy_is_bounded_by_the_window() -> None:
    from pressroom.workflows import plans

    policy = plans.callback_policy(3600)
    assert policy.schedule_to_close is not None
    assert policy.schedule_to_close.total_seconds() == 3600
    assert policy.retry.maximum_attempts == 0
    assert policy.start_to_close.total_seconds() >= 30  # the 15-30 s HTTP timeout fits
    assert Settings().callback_retry_window_seconds == 24 * 3600
    assert 15 <= Settings().callback_timeout_seconds <= 30


# --- against a real receiver -----------------------------------------------------------------


async def test_receiver_down_then_up_gets_the_callback_later(
    settings: Settings, temporal_client: Client, worker: None, api_url: str
) -> None:
    receiver = Receiver()
    await receiver.start()
    port = receiver.port
    await receiver.stop()  # connection refused from now on
    body = job_request(EXAMPLE_BLOG, task="parse-only", callback_url=receiver.url)
    job_id = await start(temporal_client, settings, body)
    try:
        pending = await wait_for_activity(temporal_client, job_id, "send_callback", min_attempt=3)
        assert "cannot connect" in pending.last_failure.message
        # The outcome is readable while delivery keeps failing.
        async with aiohttp.ClientSession() as http, http.get(f"{api_url}/jobs/{job_id}") as resp:
            view = await resp.json()
        assert view["state"] == "completed"
        assert view["result"]["status"] == "completed"
        await receiver.start(port)
        handle = temporal_client.get_workflow_handle(job_id)
        result = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        await receiver.stop()
    assert result["status"] == "completed"
    assert len(receiver.hits) == 1
    run_id = (await handle.describe()).run_id or ""
    assert_same_message(receiver.hits, settings, job_id, run_id)
    assert json.loads(receiver.hits[0].body)["status"] == "completed"


async def test_5xx_is_retried_with_the_same_id_and_body_and_fresh_signatures(
    settings: Settings, temporal_client: Client, worker: None, receiver: Receiver
) -> None:
    receiver.script.extend([Answer(500), Answer(502)])
    job_id, run_id, result = await run(temporal_client, settings, receiver.url)
    assert result["status"] == "completed"
    hits = receiver.hits
    assert [h.status for h in hits] == [500, 502, 200]
    assert_same_message(hits, settings, job_id, run_id)
    # Jittered backoff waits at least 0.5 s then 1 s: the last attempt is stamped (and so
    # signed) for a later second than the first.
    stamps = [int(h.headers["webhook-timestamp"]) for h in hits]
    assert stamps[-1] > stamps[0]
    assert len({h.headers["webhook-signature"] for h in hits}) > 1
    assert hits[1].at - hits[0].at >= 0.5 * plans.CALLBACK_INITIAL_S


async def test_429_retry_after_is_honoured(
    settings: Settings, temporal_client: Client, worker: None, receiver: Receiver
) -> None:
    receiver.script.append(Answer(429, {"Retry-After": "3"}))
    receiver.script.append(Answer(503, {"Retry-After": "2"}))
    job_id, run_id, result = await run(temporal_client, settings, receiver.url)
    assert result["status"] == "completed"
    hits = receiver.hits
    assert [h.status for h in hits] == [429, 503, 200]
    assert hits[1].at - hits[0].at >= 3.0
    assert hits[2].at - hits[1].at >= 2.0
    assert_same_message(hits, settings, job_id, run_id)


async def test_410_stops_delivery_and_the_job_still_completes(
    settings: Settings, temporal_client: Client, worker: None, receiver: Receiver
) -> None:
    receiver.script.append(Answer(410))
    job_id, _, result = await run(temporal_client, settings, receiver.url)
    assert result["status"] == "completed"
    # The workflow has ended, so no attempt can follow the first.
    assert [h.status for h in receiver.hits] == [410]
    failures = await callback_failures(temporal_client, job_id)
    assert any("HTTP 410" in f for f in failures), failures


async def test_delivery_gives_up_when_the_window_closes(
    settings: Settings, temporal_client: Client, receiver: Receiver
) -> None:
    short = settings.model_copy(update={"callback_retry_window_seconds": 4})
    receiver.default = 500
    async with running_worker(short, temporal_client):
        job_id, run_id, result = await run(temporal_client, short, receiver.url)
    assert result["status"] == "completed"  # an undelivered callback never fails the job
    assert len(receiver.hits) >= 2
    assert all(h.status == 500 for h in receiver.hits)
    assert_same_message(receiver.hits, short, job_id, run_id)
    failures = await callback_failures(temporal_client, job_id)
    assert any("HTTP 500" in f for f in failures), failures
