"""Step 5, load-database: posts, sections and media with their vectors into Postgres.

Streams `posts.jsonl` and the vector batches side by side (the parse step wrote embedding
inputs in section order), so memory stays flat whatever the repository size. The load is
one transaction in `database.load_revision`: a retry replaces, never duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import asyncpg
import numpy as np

from pressroom.content.thumbnails import thumbnails_from_snapshot
from pressroom.db import database
from pressroom.db.database import MediaRow, SectionRow
from pressroom.db.thumbnails import store_thumbnails
from pressroom.models import EmbeddingInfo, LoadSummary, MediaItem, Post
from pressroom.runtime.faults import fault_point, is_armed
from pressroom.search.language import post_ts_config
from pressroom.steps import Progress
from pressroom.steps.describe import apply_descriptions
from pressroom.storage.base import Store
from pressroom.storage.workstore import WorkKeys, read_jsonl, vectors_from_bytes

T = TypeVar("T")

# Fault-injection point inside the load transaction: posts copied, sections COPY started.
MID_COPY = "load-database:mid-copy"


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

    def __iter__(self) -> Iterator[tuple[str, str, np.ndarray | None]]:
        for batch in range(self.batches):
            inputs, vectors = self.paths(batch)
            matrix = vectors_from_bytes(vectors.read_bytes())
            # A NaN row is an input the provider refused (steps.embed): it has no vector.
            present = np.isfinite(matrix).all(axis=1)
            for i, row in enumerate(read_jsonl(inputs)):
                yield row["id"], row["sha256"], matrix[i] if present[i] else None


def _aligned(
    expected_ids: Iterator[str], stream: Iterator[tuple[str, str, np.ndarray | None]]
) -> Iterator[tuple[str, str, np.ndarray | None]]:
    for expected in expected_ids:
        got = next(stream, None)
        if got is None or got[0] != expected:
            # Only a bug in the parse step's ordering could cause this; fail loudly.
            raise RuntimeError(
                f"vector stream out of order at {expected!r} (got {got and got[0]!r})"
            )
        yield got


def section_rows(
    posts_path: Path, vectors: VectorStream, default_lang: str = "english"
) -> Iterator[SectionRow]:
    """Rows in section order; each stemmed in its post's `lang` (else `default_lang`)."""
    posts = (Post.model_validate(p) for p in read_jsonl(posts_path))
    stream = iter(vectors)
    for post in posts:
        ids = (s.id for s in post.sections)
        lang = post_ts_config(post.front_matter, default_lang)
        for section, (_, sha, vector) in zip(post.sections, _aligned(ids, stream), strict=True):
            yield SectionRow.from_section(
                section, post_title=post.title, embedding=vector, content_sha256=sha, lang=lang
            )


async def load_thumbnails(
    store: Store,
    keys: WorkKeys,
    conn: asyncpg.Connection,
    *,
    site: str,
    revision_id: str,
    media_path: Path,
    scratch: Path,
) -> int:
    """Search-result previews of the revision's images, from the fetch step's snapshot."""
    paths = {m["path"] for m in read_jsonl(media_path)}
    if not paths:
        return 0
    tar_path = scratch / "source.tar"
    await store.get_file(keys.source, tar_path)
    thumbs = await asyncio.to_thread(lambda: list(thumbnails_from_snapshot(tar_path, paths)))
    return await store_thumbnails(conn, site, revision_id, thumbs)


async def _after_fault_point(rows: Iterable[T], point: str) -> AsyncIterator[T]:
    """`rows`, once the fault point passes: used only when fault injection arms `point`."""
    await fault_point(point)
    for n, row in enumerate(rows, 1):
        yield row
        if n % 500 == 0:  # hand the loop back, as database._mapped does for sync rows
            await asyncio.sleep(0)


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
    switch: bool = True,
    requested_at: datetime | None = None,
    repo_url: str | None = None,
    dist_folder: str | None = None,
    keep: int | None = None,
    before_commit: Callable[[], Awaitable[None]] | None = None,
    default_lang: str = "english",
    output_key: str | None = None,
) -> LoadSummary:
    """Load the revision (see `database.load_revision_outcome` for `switch`, `requested_at`
    and `before_commit`). A revision superseded by a later job's current one loads nothing
    and says so; with `switch` and `keep`, older revisions are pruned after the switch."""
    posts_path, media_path = scratch / "posts.jsonl", scratch / "media.jsonl"
    await store.get_file(keys.posts, posts_path)
    await store.get_file(keys.media, media_path)
    await apply_descriptions(store, keys, media_batches, media_path, scratch)
    text = VectorStream(scratch, "text", text_batches)
    images = VectorStream(scratch, "media", media_batches)
    await text.download(store, keys)
    await images.download(store, keys)
    progress(1, 2, "loading")
    sections: Iterable[SectionRow] | AsyncIterator[SectionRow] = section_rows(
        posts_path, text, default_lang
    )
    if is_armed(MID_COPY):
        sections = _after_fault_point(sections, MID_COPY)
    async with pool.acquire() as conn:
        try:
            outcome = await database.load_revision_outcome(
                conn,
                site=site,
                revision_id=revision_id,
                job_id=job_id,
                posts=(Post.model_validate(p) for p in read_jsonl(posts_path)),
                sections=sections,
                media=media_rows(media_path, images),
                provider=embedding.provider,
                model=embedding.model,
                dimensions=embedding.dimensions,
                switch=switch,
                requested_at=requested_at,
                repo_url=repo_url,
                dist_folder=dist_folder,
                before_commit=before_commit,
                output_key=output_key,
            )
        except database.RevisionSuperseded as exc:
            progress(2, 2, "superseded")
            return LoadSummary(
                site=site,
                revision_id=revision_id,
                posts=0,
                sections=0,
                media=0,
                previous_revision=exc.current,
                switched=False,
                superseded=True,
            )
        await load_thumbnails(
            store,
            keys,
            conn,
            site=site,
            revision_id=revision_id,
            media_path=media_path,
            scratch=scratch,
        )
        pruned: list[str] = []
        if switch and keep:
            pruned = await database.prune_revisions(conn, site, keep=keep)
    await fault_point("load-database:after-commit")
    progress(2, 2, "committed")
    return LoadSummary(
        site=site,
        revision_id=revision_id,
        **outcome.counts,
        previous_revision=outcome.previous_revision,
        changes=outcome.changes,
        switched=outcome.switched,
        pruned=pruned,
    )
