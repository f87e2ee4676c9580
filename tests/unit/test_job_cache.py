"""The API's job-answer cache (api/job_cache.py): fresh answers reused within their window,
concurrent requests sharing one read, closed answers handed back to the loader, bounds in
entries and bytes, and nothing kept for a job that does not exist or a read that failed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from pressroom.api.etags import if_none_match as matches
from pressroom.api.job_cache import JobCache


@dataclass(frozen=True)
class Answer:
    job_id: str
    version: int
    closed: bool = False
    size: int = 10


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A stand-in for Temporal: counts reads; each read can be held until released."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, Answer | None]] = []
        self.closed: set[str] = set()
        self.missing: set[str] = set()
        self.failing = False
        self.gate: asyncio.Event | None = None

    async def load(self, job_id: str, stale: Answer | None) -> Answer | None:
        self.reads.append((job_id, stale))
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise ConnectionError("temporal unreachable")
        if job_id in self.missing:
            return None
        return Answer(job_id, len(self.reads), closed=job_id in self.closed)


def cache(source: Source, clock: Clock, **kw: int) -> JobCache[Answer]:
    return JobCache(source.load, running_ttl=0.5, closed_ttl=10.0, clock=clock, **kw)


async def test_a_running_answer_is_reused_within_its_window_only() -> None:
    source, clock = Source(), Clock()
    jobs = cache(source, clock)
    first = await jobs.get("a")
    clock.now += 0.4
    assert await jobs.get("a") is first
    clock.now += 0.2
    second = await jobs.get("a")
    assert second is not None and second.version == 2
    assert len(source.reads) == 2


async def test_a_closed_answer_is_kept_longer_and_handed_back_to_the_loader() -> None:
    source, clock = Source(), Clock()
    source.closed.add("a")
    jobs = cache(source, clock)
    first = await jobs.get("a")
    clock.now += 9
    assert await jobs.get("a") is first
    clock.now += 2
    await jobs.get("a")
    assert source.reads == [("a", None), ("a", first)]


async def test_concurrent_requests_share_one_read() -> None:
    source, clock = Source(), Clock()
    source.gate = asyncio.Event()
    jobs = cache(source, clock)
    waiting = [asyncio.ensure_future(jobs.get("a")) for _ in range(16)]
    await asyncio.sleep(0)
    source.gate.set()
    answers = await asyncio.gather(*waiting)
    assert len(source.reads) == 1
    assert all(a is answers[0] for a in answers)


async def test_a_waiter_that_leaves_does_not_cancel_the_shared_read() -> None:
    source, clock = Source(), Clock()
    source.gate = asyncio.Event()
    jobs = cache(source, clock)
    leaving = asyncio.ensure_future(jobs.get("a"))
    staying = asyncio.ensure_future(jobs.get("a"))
    await asyncio.sleep(0)
    leaving.cancel()
    source.gate.set()
    answer = await staying
    assert answer is not None and answer.version == 1


async def test_unknown_jobs_and_failed_reads_are_not_kept() -> None:
    source, clock = Source(), Clock()
    source.missing.add("a")
    jobs = cache(source, clock)
    assert await jobs.get("a") is None
    source.missing.clear()
    assert await jobs.get("a") is not None  # posted since: found at once
    clock.now += 1
    source.failing = True
    with pytest.raises(ConnectionError):
        await jobs.get("a")
    source.failing = False
    answer = await jobs.get("a")
    assert answer is not None and answer.version == 4


async def test_bounded_in_entries_and_bytes_least_recent_first() -> None:
    source, clock = Source(), Clock()
    jobs = cache(source, clock, max_entries=3, max_bytes=25)
    for job in ("a", "b"):
        await jobs.get(job)
    await jobs.get("a")  # a is now more recent than b
    await jobs.get("c")  # 30 bytes: b goes
    assert len(jobs) == 2 and jobs.bytes == 20
    reads = len(source.reads)
    await jobs.get("a")
    assert len(source.reads) == reads  # a was kept
    await jobs.get("b")
    assert len(source.reads) == reads + 1  # b was not


def test_if_none_match() -> None:
    etag = '"abc"'
    assert matches('"abc"', etag)
    assert matches('"x", W/"abc"', etag)
    assert matches("*", etag)
    assert not matches('"abd"', etag)
    assert not matches(None, etag)
    assert not matches("", etag)
