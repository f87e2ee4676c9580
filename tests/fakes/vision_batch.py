"""One embed-images batch of many distinct images, run the way a worker runs it (the embed
step, a describer with its own limiter, a description cache a retry reuses), for the
provider-limit tests and bench/vision_rate.py."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI
from PIL import Image

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
from tests.fakes.openai_server import FakeOpenAI


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


async def describe_batch(
    server: FakeOpenAI, tmp_path: Path, count: int, *, ceiling: int, attempts: int = 5
) -> tuple[EmbedSummary | None, int]:
    """One media batch of `count` distinct images through the embed step, as one worker runs
    it, retried as Temporal would (after the provider's retry-after) until it completes;
    returns the summary (None: not done in `attempts`) and the attempts made."""
    keys = WorkKeys(f"job-{uuid.uuid4().hex[:8]}")
    client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=10)
    describer = ImageDescriber(
        client,
        "gpt-4o-mini",
        limiter=LimiterSpec(key=f"test|{uuid.uuid4().hex}", ceiling=ceiling),
        owns_client=True,
    )
    rows: list[dict[str, Any]] = []
    summary: EmbedSummary | None = None
    tries = 0
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
        while summary is None and tries < attempts:
            tries += 1
            try:
                summary = await embed_batch(EmbedInput(kind="media", batch=0), env)
            except EmbeddingError as err:
                assert err.rate_limited, err
                await asyncio.sleep(err.retry_after or 1.0)
        await describer.aclose()
    return summary, tries
