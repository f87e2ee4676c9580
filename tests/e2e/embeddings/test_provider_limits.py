"""Requests in flight follow the provider: the embed-images step against the fake OpenAI
server enforcing a request rate limit (x-ratelimit-* headers, 429 + retry-after) with a
latency per request, through the real `openai` client; and the leases in Postgres that split
the ceiling among workers. The full-size figure (435 images, 1 s, 600 a minute) is measured
by bench/vision_rate.py, not here: no wall-clock asserts."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg

from pressroom.db.leases import renew_lease
from pressroom.db.schema import migrate
from tests.fakes.openai_server import FakeOpenAI, openai_server
from tests.fakes.vision_batch import describe_batch

__all__ = ["openai_server"]  # the fixture, re-exported for pytest


async def test_descriptions_grow_past_four_in_flight_without_a_429_storm(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    # 1,200 requests a minute enforced as 20 a second, 0.5 s each: about 10 in flight is what
    # the provider sustains (the same shape as 600 a minute at 1 s, in half the time).
    openai_server.latency = 0.5
    openai_server.requests_per_minute(1200, endpoint="chat")
    images = 60
    final, tries = await describe_batch(openai_server, tmp_path, images, ceiling=32)

    assert final is not None, "the batch never completed"
    assert tries <= 2  # at most one retry, after an early overshoot
    assert final.described + final.descriptions_reused == images
    assert not final.undescribed
    answered = openai_server.chat_requests(status=200)
    assert len({r.body["messages"][0]["content"][1]["image_url"]["url"] for r in answered}) == 60
    # More than the old fixed 4 at once, never over the ceiling...
    assert 4 < openai_server.peak_in_flight <= 32
    # ...and the rate limit was met by the headers, not by a storm of 429s.
    limited = openai_server.chat_requests(status=429)
    assert len(limited) <= images // 10, f"{len(limited)} 429s"


async def test_no_more_in_flight_than_the_ceiling(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.latency = 0.2
    final, tries = await describe_batch(openai_server, tmp_path, 30, ceiling=3)
    assert final is not None and (final.described, tries) == (30, 1)
    assert openai_server.peak_in_flight == 3


async def test_leases_split_the_ceiling_among_live_workers(pg_url: str) -> None:
    key = f"test-budget-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_url)
    try:
        await migrate(conn)

        async def renew(holder: str, want: int, ttl: float = 30.0) -> int:
            return await renew_lease(conn, key, holder, want=want, ceiling=10, ttl=ttl)

        assert await renew("a", want=10) == 10  # alone: the whole ceiling
        assert await renew("b", want=10) == 5  # a newcomer gets a fair share at once
        assert await renew("a", want=10) == 5  # and the first shrinks at its next renewal
        assert await renew("b", want=2) == 2  # nobody takes more than it wants
        assert await renew("a", want=10) == 8  # the rest is free for the other
        # A third gets its fair share (the others shrink to the rest at their renewals)...
        assert await renew("c", want=10, ttl=0.2) == 10 // 3
        assert await renew("a", want=10) == 10 - 2 - 3
        # ...and, when it stops renewing (a dead worker), gives it back as its lease expires.
        await asyncio.sleep(0.4)
        assert await renew("b", want=10) == 5
        assert await renew("a", want=10) == 5
    finally:
        await conn.execute("DELETE FROM budget_leases WHERE key = $1", key)
        await conn.close()
