"""Image previews, made by the thumbnails step beside embedding (before the load, whose
transaction only links to them; a load that finds some missing makes them first).

Previews are content-addressed (`pressroom.db.thumbnails`): only images whose sha256 has no
row under the current `THUMBNAIL_SPEC` are read from the snapshot and decoded, in a few
threads (Pillow releases the GIL while it decodes, resizes and encodes WebP, so threads use
every core without a child process's start-up and copies), a bounded window of images at a
time, and stored in small batches as they come. The transaction then only links the
revision's paths to them (`link_thumbnails`). A second job over the same images, from any
site, neither downloads the snapshot nor decodes anything.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path
from typing import TypeVar

from pressroom.content.thumbnails import (
    THUMBNAIL_SPEC,
    PixelBudget,
    Thumbnail,
    make_thumbnail,
)
from pressroom.db.thumbnails import known_thumbnails, put_thumbnails
from pressroom.models import ThumbnailCounts
from pressroom.steps.env import DatabaseEnv
from pressroom.steps.parse_part import Snapshot
from pressroom.storage.workstore import read_jsonl

__all__ = ["make_missing_thumbnails", "make_thumbnails", "thumbnail_workers"]

T = TypeVar("T")
R = TypeVar("R")

_SVG = "image/svg+xml"
STORE_BATCH = 32  # previews per INSERT: a few hundred KB
WINDOW_PER_WORKER = 4  # images read ahead per thread: keeps threads busy, memory bounded
# Pixels decoded at once across the threads (about 4 bytes each): two 4-megapixel screenshots
# never decode side by side, small images still do.
DECODE_PIXELS = 6_000_000


def thumbnail_workers() -> int:
    """Threads for decoding: the cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


def _images(media_path: Path) -> dict[str, str]:
    """One path per distinct raster image content (sha256 -> first path)."""
    images: dict[str, str] = {}
    for item in read_jsonl(media_path):
        if item["mime"] != _SVG:
            images.setdefault(item["sha256"], item["path"])
    return images


async def _in_threads(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> AsyncIterator[R]:
    """fn(item) for each item, in order, at most `window` submitted ahead of the consumer."""
    loop = asyncio.get_running_loop()
    pending: deque[asyncio.Future[R]] = deque()
    try:
        for item in items:
            pending.append(loop.run_in_executor(pool, fn, item))
            if len(pending) >= window:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()
    finally:
        for future in pending:
            future.cancel()


async def make_missing_thumbnails(
    env: DatabaseEnv, media_path: Path, workers: int
) -> ThumbnailCounts:
    """Make and store the previews the store lacks for the revision's images (`media.jsonl`).

    Outside any transaction: each batch commits on its own, so a retry finds what an earlier
    attempt made, and two jobs making the same image store it once."""
    images = _images(media_path)
    if not images:
        return ThumbnailCounts()
    async with env.pool.acquire() as conn:
        known = await known_thumbnails(conn, THUMBNAIL_SPEC, list(images))
    missing = [(sha, path) for sha, path in images.items() if sha not in known]
    counts = ThumbnailCounts(reused=len(images) - len(missing))
    if not missing:
        return counts
    tar_path = env.scratch / "source.tar"
    await env.store.get_file(env.keys.source, tar_path)
    snapshot = await asyncio.to_thread(Snapshot, tar_path)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumbnails")

    budget = PixelBudget(DECODE_PIXELS)

    def make(item: tuple[str, str]) -> Thumbnail | None:
        return make_thumbnail(item[0], snapshot.read(item[1]), budget=budget)

    batch: list[Thumbnail] = []
    try:
        async with env.pool.acquire() as conn:
            made = _in_threads(pool, make, missing, WINDOW_PER_WORKER * workers)
            async with aclosing(made):
                done = 0
                async for thumb in made:
                    done += 1
                    if thumb is not None:
                        batch.append(thumb)
                        counts.made += thumb.data is not None
                        counts.unreadable += thumb.data is None
                    if len(batch) >= STORE_BATCH or done == len(missing):
                        await put_thumbnails(conn, THUMBNAIL_SPEC, batch)
                        batch.clear()
                        env.progress(done, len(missing), "thumbnails")
    finally:
        # Queued images are dropped; running ones finish before the snapshot closes.
        await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
        snapshot.close()
    return counts


async def make_thumbnails(env: DatabaseEnv, workers: int | None = None) -> ThumbnailCounts:
    """The thumbnails step: previews for the parse step's images (`media.jsonl`)."""
    media_path = env.scratch / "media.jsonl"
    await env.store.get_file(env.keys.media, media_path)
    return await make_missing_thumbnails(env, media_path, workers or thumbnail_workers())
