"""Work-store retention on S3 (moto's server, the real protocol): the janitor's folder walk is
a delimited listing, a page at a time, and its purge keeps the tombstone alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from pressroom.config import Settings
from pressroom.steps.retention import (
    PurgeCounts,
    WorkExpired,
    finish_work,
    purge_expired,
    refuse_purged,
)
from pressroom.storage import open_store
from pressroom.storage.s3 import S3Store
from pressroom.storage.workstore import WorkKeys
from tests.fakes.moto import (
    moto_endpoint,  # noqa: F401 - fixture
    s3_bucket,  # noqa: F401 - fixture
    s3_settings,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
async def store(moto_endpoint: str, s3_bucket: str) -> AsyncIterator[S3Store]:  # noqa: F811
    settings = s3_settings(Settings(), moto_endpoint)
    async with open_store(f"s3://{s3_bucket}/root/", settings) as opened:
        assert isinstance(opened, S3Store)
        yield opened


async def test_job_folders_are_listed_one_level_deep_across_pages(store: S3Store) -> None:
    # More folders than one listing page holds (1000), each with keys below it.
    jobs = [f"job-{i:04d}" for i in range(1001)]
    gate = asyncio.Semaphore(16)

    async def put(key: str) -> None:
        async with gate:
            await store.put_bytes(key, b"x")

    await asyncio.gather(*(put(f"_work/{job}/source.tar") for job in jobs))
    await put("_work/job-0000/parsed/posts.jsonl")
    await put("_work/stray.txt")
    await put("_workshop/not-under-work")
    names = [name async for name in store.iter_children("_work")]
    assert sorted(names) == sorted([*(f"{job}/" for job in jobs), "stray.txt"])
    assert sorted([n async for n in store.iter_children("_work/job-0000")]) == [
        "parsed/",
        "source.tar",
    ]
    assert [n async for n in store.iter_children("_work/missing")] == []


async def test_the_janitor_purges_an_s3_work_store_down_to_its_tombstone(store: S3Store) -> None:
    for job_id, age in (("old", 2 * WEEK), ("fresh", timedelta(hours=1))):
        for name in ("source.tar", "parsed/posts.jsonl", "vectors/text-00000.npy"):
            await store.put_bytes(f"{WorkKeys(job_id).prefix}/{name}", b"data")
        await finish_work(store, job_id, status="completed", now=NOW - age, retention=WEEK)
    await store.put_bytes("_work/running/source.tar", b"data")

    async def never_running(job_id: str) -> bool:
        return False

    counts = await purge_expired(store, now=NOW, retention=WEEK, is_running=never_running)
    assert counts == PurgeCounts(purged=1, kept=1, unmarked=1)
    assert await store.list_keys("_work/old") == ["_work/old/purged.json"]
    assert len(await store.list_keys("_work/fresh")) == 4
    with pytest.raises(WorkExpired, match="WORK_RETENTION=7d"):
        await refuse_purged(store, WorkKeys("old"))
    await refuse_purged(store, WorkKeys("fresh"))
