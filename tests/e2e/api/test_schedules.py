"""Scheduled rebuilds (issue 15): `PUT /sites/{site}/schedule` makes a real Temporal Schedule
on the dev server, its runs build the site, overlap never runs two builds at once, and the
schedule is Temporal's (it outlives the API).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from pressroom.starter.worker import running_worker
from temporalio.client import Client, ScheduleOverlapPolicy
from temporalio.service import RPCError, RPCStatusCode

from pressroom.config import Settings
from tests.conftest import served_api


def site_name() -> str:
    # The dev server is shared by the session: every test names its own site (and schedule).
    return f"sched-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def http(api_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=api_url) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, path, json=body) as resp:
        return resp.status, await resp.json()


async def register(http: aiohttp.ClientSession, site: str, source: Path) -> None:
    status, body = await call(http, "PUT", f"/sites/{site}", {"repoUrl": str(source)})
    assert status == 201, body


async def scheduled_jobs(client: Client, site: str, count: int, wait_s: float = 60) -> list[str]:
    """The workflow ids of the schedule's first `count` runs, once Temporal started them."""
    handle = client.get_schedule_handle(f"site-{site}")
    for _ in range(int(wait_s * 10)):
        info = (await handle.describe()).info
        ids = [a.action.workflow_id for a in info.recent_actions]  # type: ignore[attr-defined]
        if len(ids) >= count:
            return ids
        await asyncio.sleep(0.1)
    raise AssertionError(f"schedule of {site} started fewer than {count} runs")


async def test_a_schedule_is_a_temporal_schedule_that_builds_the_site(
    http: aiohttp.ClientSession, temporal_client: Client, worker: None, blog: Path
) -> None:
    site = site_name()
    await register(http, site, blog)
    status, body = await call(
        http, "PUT", f"/sites/{site}/schedule", {"every": "1h", "jitter": "5m", "paused": True}
    )
    assert status == 201, body
    desc = await temporal_client.get_schedule_handle(f"site-{site}").describe()
    assert [i.every.total_seconds() for i in desc.schedule.spec.intervals] == [3600]
    assert (
        desc.schedule.spec.jitter is not None and desc.schedule.spec.jitter.total_seconds() == 300
    )
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.schedule.state.paused
    assert body["schedule"]["spec"]["every"] == ["1h"] and body["schedule"]["paused"] is True

    # A trigger runs the action even while paused: the site's build, named by Temporal.
    await temporal_client.get_schedule_handle(f"site-{site}").trigger()
    (job_id,) = await scheduled_jobs(temporal_client, site, 1)
    assert job_id.startswith(f"{site}.scheduled-")
    result = await temporal_client.get_workflow_handle(job_id).result()
    assert result["status"] == "completed" and result["site"] == site
    assert result["trigger"] == {"kind": "schedule", "site": site, "schedule": f"site-{site}"}
    assert result["counts"]["posts"] > 0
    status, job = await call(http, "GET", f"/jobs/{job_id}")
    assert status == 200 and job["jobId"] == job_id and job["trigger"]["kind"] == "schedule"

    # The next run finds the source unchanged: nothing parsed or embedded again, and says so.
    await temporal_client.get_schedule_handle(f"site-{site}").trigger()
    second = (await scheduled_jobs(temporal_client, site, 2))[-1]
    again = await temporal_client.get_workflow_handle(second).result()
    assert again["status"] == "completed" and again["unchanged"] is True
    assert again["revision"] == result["revision"]

    status, shown = await call(http, "GET", f"/sites/{site}")
    assert status == 200 and shown["revision"] == result["revision"]
    assert shown["schedule"]["runs"] == 2 and shown["newestJob"]["jobId"] == second


@pytest.mark.parametrize("overlap", ["skip", "buffer-one"])
async def test_a_site_never_builds_twice_at_once(
    http: aiohttp.ClientSession,
    temporal_client: Client,
    settings: Settings,
    blog: Path,
    tmp_path: Path,
    overlap: str,
) -> None:
    site = site_name()
    await register(http, site, blog)
    status, _ = await call(
        http, "PUT", f"/sites/{site}/schedule", {"cron": "0 0 1 1 *", "overlap": overlap}
    )
    assert status == 201
    handle = temporal_client.get_schedule_handle(f"site-{site}")
    release = tmp_path / "release"
    held = settings.model_copy(update={"fault_hold_step": "parse", "fault_release_file": release})
    async with running_worker(held, temporal_client):
        await handle.trigger()
        (first,) = await scheduled_jobs(temporal_client, site, 1)
        for _ in range(3):  # while the first build is held in its parse step
            # A second apart: a schedule starts at most one run a second (temporal#3614).
            await asyncio.sleep(1.1)
            await handle.trigger()
        # skip: the three are dropped; buffer-one: one waits, the other two are dropped.
        skipped = 3 if overlap == "skip" else 2
        for _ in range(100):  # the schedule handles triggers in its own time
            info = (await handle.describe()).info
            if info.num_actions_skipped_overlap >= skipped:
                break
            await asyncio.sleep(0.1)
        assert info.num_actions_skipped_overlap == skipped
        assert [a.workflow_id for a in info.running_actions] == [first]
        assert len(info.recent_actions) == 1
        release.touch()
        assert (await temporal_client.get_workflow_handle(first).result())["status"] == "completed"
        if overlap == "buffer-one":
            ids = await scheduled_jobs(temporal_client, site, 2)
            buffered = await temporal_client.get_workflow_handle(ids[-1]).result()
            assert buffered["status"] == "completed" and buffered["unchanged"] is True
    assert (await handle.describe()).info.num_actions == (1 if overlap == "skip" else 2)


async def test_pause_unpause_and_delete(
    http: aiohttp.ClientSession, temporal_client: Client, blog: Path
) -> None:
    site = site_name()
    await register(http, site, blog)
    handle = temporal_client.get_schedule_handle(f"site-{site}")
    assert (await call(http, "PUT", f"/sites/{site}/schedule", {"cron": "15 3 * * *"}))[0] == 201
    desc = await handle.describe()
    assert not desc.schedule.state.paused
    (calendar,) = desc.schedule.spec.calendars
    assert [r.start for r in calendar.minute] == [15] and [r.start for r in calendar.hour] == [3]

    status, body = await call(
        http, "PUT", f"/sites/{site}/schedule", {"cron": "15 3 * * *", "paused": True}
    )
    assert status == 200 and body["schedule"]["paused"] is True
    assert (await handle.describe()).schedule.state.paused
    status, body = await call(http, "PUT", f"/sites/{site}/schedule", {"every": "30m"})
    assert status == 200 and body["schedule"]["paused"] is False
    desc = await handle.describe()
    assert not desc.schedule.state.paused and not desc.schedule.spec.calendars
    assert [i.every.total_seconds() for i in desc.schedule.spec.intervals] == [1800]

    status, body = await call(http, "DELETE", f"/sites/{site}/schedule")
    assert status == 200, body
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
    assert (await call(http, "GET", f"/sites/{site}/schedule"))[0] == 404
    assert (await call(http, "DELETE", f"/sites/{site}/schedule"))[0] == 404

    # Deleting the site deletes its schedule.
    assert (await call(http, "PUT", f"/sites/{site}/schedule", {"every": "1h"}))[0] == 201
    status, body = await call(http, "DELETE", f"/sites/{site}")
    assert status == 200 and body["scheduleDeleted"] is True
    with pytest.raises(RPCError):
        await handle.describe()
    assert (await call(http, "GET", f"/sites/{site}"))[0] == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "cron"),
        ({"cron": "0 * * * *", "every": "1h"}, "cron"),
        ({"every": "soon"}, "every"),
        ({"every": "10s"}, "every"),
        ({"every": "1h", "jitter": "2h"}, "jitter"),
        ({"every": "1h", "overlap": "allow-all"}, "overlap"),
        ({"every": "1h", "paused": "yes"}, "paused"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"every": "1h", "every2": 1}, "every2"),
        ([], None),
    ],
)
async def test_a_bad_schedule_is_a_400_naming_the_field(
    http: aiohttp.ClientSession, blog: Path, body: Any, field: str | None
) -> None:
    site = site_name()
    await register(http, site, blog)
    status, answer = await call(http, "PUT", f"/sites/{site}/schedule", body)
    assert status == 400, answer
    assert answer.get("field") == field, answer


async def test_a_schedule_for_an_unknown_site_is_a_404(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "PUT", "/sites/nobody-here/schedule", {"every": "1h"})
    assert status == 404 and "nobody-here" in body["error"]


async def test_the_schedule_outlives_the_api(
    settings: Settings, temporal_client: Client, blog: Path
) -> None:
    site = site_name()

    async with served_api(settings, temporal_client) as url:
        async with aiohttp.ClientSession(base_url=url) as http:
            await register(http, site, blog)
            assert (await call(http, "PUT", f"/sites/{site}/schedule", {"every": "2h"}))[0] == 201

    # A second API app, started after the first stopped: nothing carried over in memory.
    async with served_api(settings, temporal_client) as url:
        async with aiohttp.ClientSession(base_url=url) as http:
            status, body = await call(http, "GET", f"/sites/{site}/schedule")
            assert status == 200 and body["schedule"]["spec"]["every"] == ["2h"]
            assert body["schedule"]["requested"] == {
                "every": "2h",
                "paused": False,
                "overlap": "skip",
            }
            status, listed = await call(http, "GET", "/sites")
            (mine,) = [s for s in listed["sites"] if s["site"] == site]
            assert mine["registered"] and mine["schedule"]["every"] == "2h"
