"""Step 5, load-database: posts, sections and media with their vectors into Postgres.

Streams `posts.jsonl` and the vector batches side by side (the parse step wrote embedding
inputs in section order), so memory stays flat whatever the repository size. The load is
one transaction in `database.load_revision`: a retry replaces, never duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import numpy as np

from pressroom import database
from pressroom.database import MediaRow, SectionRow
from pressroom.models import EmbeddingInfo, LoadSummary, MediaItem, Post
from pressroom.steps import Progress
from pressroom.storage import Store
from pressroom.workstore import WorkKeys, read_jsonl, vectors_from_bytes


class VectorStream:
    """Yields (input id, input sha256, vector) across a kind's batch files, in order."""

    def __init__(self, scratch: Path, kind: str, batches: int) -> None:
        self.scratch, self.kind, self.batches = scratch, kind, batches

    def paths(self, batch: int) -> tuple[Path, Path]:
        return (
            self.scratch / f"{self.kind}-{batch:05d}.jsonl",
            self.scratch / f"{self.kind}-{batch:05d}.npy",
        )

    async def download(self, store: Store, keys: WorkKeys) -> None:
        for batch in range(self.batches):
            inputs, vectors = self.paths(batch)
            await store.get_file(keys.embed_inputs(self.kind, batch), inputs)
            await store.get_file(keys.vectors(self.kind, batch), vectors)

    def __iter__(self) -> Iterator[tuple[str, str, np.ndarray]]:
        for batch in range(self.batches):
            inputs, vectors = self.paths(batch)
            matrix = vectors_from_bytes(vectors.read_bytes())
            for i, row in enumerate(read_jsonl(inputs)):
                yield row["id"], row["sha256"], matrix[i]


def _aligned(
    expected_ids: Iterator[str], stream: Iterator[tuple[str, str, np.ndarray]]
) -> Iterator[tuple[str, str, np.ndarray]]:
    for expected in expected_ids:
        got = next(stream, None)
        if got is None or got[0] != expected:
            # Only a bug in the parse step's ordering could cause this; fail loudly.
            raise RuntimeError(
                f"vector stream out of order at {expected!r} (got {got and got[0]!r})"
            )
        yield got


def section_rows(posts_path: Path, vectors: VectorStream) -> Iterator[SectionRow]:
    posts = (Post.model_validate(p) for p in read_jsonl(posts_path))
    stream = iter(vectors)
    for post in posts:
        ids = (s.id for s in post.sections)
        for section, (_, sha, vector) in zip(post.sections, _aligned(ids, stream), strict=True):
            yield SectionRow.from_section(
                section, post_title=post.title, embedding=vector, content_sha256=sha
            )


def media_rows(media_path: Path, vectors: VectorStream) -> Iterator[MediaRow]:
    items = [MediaItem.model_validate(m) for m in read_jsonl(media_path)]
    stream = _aligned((m.path for m in items), iter(vectors))
    for item, (_, _, vector) in zip(items, stream, strict=True):
        yield MediaRow.from_item(item, embedding=vector)


async def load_database(
    store: Store,
    keys: WorkKeys,
    pool: asyncpg.Pool,
    *,
    site: str,
    revision_id: str,
    job_id: str,
    text_batches: int,
    media_batches: int,
    embedding: EmbeddingInfo,
    scratch: Path,
    progress: Progress,
) -> LoadSummary:
    posts_path, media_path = scratch / "posts.jsonl", scratch / "media.jsonl"
    await store.get_file(keys.posts, posts_path)
    await store.get_file(keys.media, media_path)
    text = VectorStream(scratch, "text", text_batches)
    images = VectorStream(scratch, "media", media_batches)
    await text.download(store, keys)
    await images.download(store, keys)
    progress(1, 2, "loading")
    async with pool.acquire() as conn:
        counts = await database.load_revision(
            conn,
            site=site,
            revision_id=revision_id,
            job_id=job_id,
            posts=(Post.model_validate(p) for p in read_jsonl(posts_path)),
            sections=section_rows(posts_path, text),
            media=media_rows(media_path, images),
            provider=embedding.provider,
            model=embedding.model,
            dimensions=embedding.dimensions,
        )
    progress(2, 2, "committed")
    return LoadSummary(site=site, revision_id=revision_id, **counts)
