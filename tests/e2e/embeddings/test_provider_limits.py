"""Requests in flight follow the provider: the embed-images step against the fake OpenAI
server enforcing a request rate limit (x-ratelimit-* headers, 429 + retry-after) with a
latency per request, through the real `openai` client; and the leases in Postgres that split
the ceiling among workers. The full-size figure (435 images, 1 s, 600 a minute) is measured
by bench/vision_rate.py, not here: no wall-clock asserts."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from openai import AsyncOpenAI
from PIL import Image

from pressroom.db.leases import ensure_table, renew_lease
from pressroom.embeddings import HashingEmbedder
from pressroom.embeddings.base import EmbeddingError
from pressroom.embeddings.inputs import input_sha256
from pressroom.embeddings.limiter import LimiterSpec
from pressroom.embeddings.vision import ImageDescriber
from pressroom.models import EmbedSummary
from pressroom.steps.embed import EmbedInput, embed_batch
from pressroom.steps.env import EmbedEnv
from pressroom.storage import open_store
from pressroom.storage.workstore import WorkKeys, write_jsonl
from tests.fakes.openai_server import FakeOpenAI, openai_server

__all__ = ["openai_server"]  # the fixture, re-exported for pytest


class MemoryDescriptions:
    """The description cache's contract, in memory: what a retried batch reuses."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    async def get(self, shas: Sequence[str]) -> dict[str, str]:
        return {s: self.items[s] for s in shas if s in self.items}

    async def put(self, sha: str, description: str) -> None:
        self.items[sha] = description


def png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8 + i % 7, 8 + i // 7), (i * 37 % 256, i * 91 % 256, 120)).save(out, "PNG")
    return out.getvalue()


async def describe_images(
    server: FakeOpenAI, tmp_path: Path, count: int, *, ceiling: int
) -> tuple[list[EmbedSummary], ImageDescriber]:
    """One media batch of `count` distinct images through the embed step, retried as Temporal
    would (after the provider's retry-after) until it completes."""
    keys = WorkKeys(f"job-{uuid.uuid4().hex[:8]}")
    client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=10)
    describer = ImageDescriber(
        client,
        "gpt-4o-mini",
        limiter=LimiterSpec(key=f"test|{uuid.uuid4().hex}", ceiling=ceiling),
        owns_client=True,
    )
    rows: list[dict[str, Any]] = []
    summaries: list[EmbedSummary] = []
    async with open_store(str(tmp_path / "store")) as store:
        for i in range(count):
            data = png(i)
            sha = input_sha256(data.hex())  # any unique key will do for the work store
            await store.put_bytes(keys.image(sha), data)
            text = f"image-{i}.png"
            rows.append(
                {
                    "id": f"img/{i}.png",
                    "input": text,
                    "sha256": input_sha256(text),
                    "image_sha256": sha,
                    "mime": "image/png",
                    "alts": [],
                    "name": text,
                }
            )
        write_jsonl(tmp_path / "media.jsonl", rows)
        await store.put_file(keys.embed_inputs("media", 0), tmp_path / "media.jsonl")
        env = EmbedEnv(
            store=store,
            keys=keys,
            scratch=tmp_path / "scratch",
            embedder=HashingEmbedder(dimensions=32),
            describer=describer,
            descriptions=MemoryDescriptions(),  # type: ignore[arg-type]
        )
        for _ in range(5):
            try:
                summaries.append(await embed_batch(EmbedInput(kind="media", batch=0), env))
                break
            except EmbeddingError as err:
                assert err.rate_limited, err
                await asyncio.sleep(err.retry_after or 1.0)
        await describer.aclose()
    return summaries, describer


async def test_descriptions_grow_past_four_in_flight_without_a_429_storm(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    # 1,200 requests a minute enforced as 20 a second, 0.5 s each: about 10 in flight is what
    # the provider sustains (the same shape as 600 a minute at 1 s, in half the time).
    openai_server.latency = 0.5
    openai_server.requests_per_minute(1200, endpoint="chat")
    images = 60
    summaries, _ = await describe_images(openai_server, tmp_path, images, ceiling=32)

    assert summaries, "the batch never completed"
    final = summaries[-1]
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
    summaries, _ = await describe_images(openai_server, tmp_path, 30, ceiling=3)
    assert summaries and summaries[-1].described == 30
    assert openai_server.peak_in_flight == 3


async def test_leases_split_the_ceiling_among_live_workers(pg_url: str) -> None:
    key = f"test-budget-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_url)
    try:
        await ensure_table(conn)

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
