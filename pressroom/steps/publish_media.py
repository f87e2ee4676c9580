"""Media publishing (`JobInput.publish_media`): the links media.json carries, and the uploads.

Two halves, each in the step that needs it, so the workflow has no step of its own for them:

- `media_links` (build-artifacts, which writes media.json): makes the previews the store
  lacks (a parse-only task has no thumbnails step; after one, nothing is missing), then says
  which images have one, for the `MediaLinks` that fill `published_url` and `thumbnail_url`.
- `publish_media` (publish, before the revision's files and so before the manifest that marks
  the revision published): copies every image of the revision and its preview to its
  content-addressed key (`pressroom.publish.media`).

Every key is stat'ed first. A key that exists already holds these bytes (its name is their
hash) and is never written again, whichever revision or site put it there. (Two jobs that find
one key missing at once may both write it: the same bytes, so no lock is taken for it.) Only what is
missing is read and uploaded, at most `concurrency` objects at once: images streamed from the
snapshot tar through a scratch file (the tar is downloaded only when an image is missing),
previews from Postgres a small batch at a time. A retried attempt stats again and uploads only
what the failed one did not, so the step needs no heartbeat details to resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import asyncpg

from pressroom.db.thumbnails import previewed_images, thumbnail_data
from pressroom.models import MediaCounts
from pressroom.publish.media import (
    MEDIA_CACHE_CONTROL,
    SVG_MIME,
    MediaLinks,
    media_key,
    thumbnail_key,
)
from pressroom.steps.env import DatabaseEnv, StepEnv
from pressroom.steps.parse_part import Snapshot
from pressroom.steps.thumbnails import make_missing_thumbnails, thumbnail_workers
from pressroom.storage.base import StorageError
from pressroom.storage.workstore import read_jsonl

__all__ = ["media_links", "publish_media"]

T = TypeVar("T")

PREVIEW_BATCH = 32  # previews read from Postgres at once: a few hundred KB


def _raster_images(media_path: Path) -> list[str]:
    """The distinct hashes of the revision's images that may have a preview (not SVGs)."""
    shas: dict[str, None] = {}
    for row in read_jsonl(media_path):
        if row["mime"] != SVG_MIME:
            shas.setdefault(row["sha256"])
    return list(shas)


async def media_links(
    env: DatabaseEnv, media_path: Path, spec: str, workers: int | None = None
) -> MediaLinks:
    """The links of the revision's media (`media.jsonl` at `media_path`), every preview made."""
    await make_missing_thumbnails(env, media_path, workers or thumbnail_workers())
    async with env.pool.acquire() as conn:
        previewed = await previewed_images(conn, spec, _raster_images(media_path))
    return MediaLinks(env.store.url_for, frozenset(previewed), spec)


async def _bounded(
    items: Iterable[T], fn: Callable[[T], Awaitable[None]], concurrency: int
) -> None:
    """fn(item) for every item, at most `concurrency` at once, pulled as workers free up (no
    task per item is created ahead). The first failure stops the rest and is raised as is."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:  # one shared iterator: each item goes to one worker
            await fn(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, concurrency)):
                group.create_task(worker())
    except ExceptionGroup as failed:
        # Classify the first failure as if it were the only one (StorageError retryability).
        raise failed.exceptions[0] from None


class _SourceTar:
    """The job's snapshot, downloaded and opened on first use only."""

    def __init__(self, env: StepEnv) -> None:
        self.env = env
        self.snapshot: Snapshot | None = None
        self.lock = asyncio.Lock()

    async def get(self) -> Snapshot:
        async with self.lock:
            if self.snapshot is None:
                tar_path = self.env.scratch / "source.tar"
                await self.env.store.get_file(self.env.keys.source, tar_path)
                self.snapshot = await asyncio.to_thread(Snapshot, tar_path)
            return self.snapshot

    def close(self) -> None:
        if self.snapshot is not None:
            self.snapshot.close()


async def publish_media(
    env: StepEnv, conn: asyncpg.Connection, *, spec: str, concurrency: int = 8
) -> MediaCounts:
    """Upload the revision's images (`media.jsonl` in the work store) and their previews
    under `spec` that the store lacks; returns what was uploaded and what was there."""
    store = env.store
    media_path = env.scratch / "media.jsonl"
    await store.get_file(env.keys.media, media_path)
    images: dict[str, tuple[str, str, str]] = {}  # key -> (sha256, path, mime)
    for row in read_jsonl(media_path):
        key = media_key(row["sha256"], row["mime"], row["path"])
        images.setdefault(key, (row["sha256"], row["path"], row["mime"]))
    previewed = sorted(await previewed_images(conn, spec, _raster_images(media_path)))
    counts = MediaCounts()
    total = len(images) + len(previewed)
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        env.progress(
            done,
            total,
            f"media: {counts.images_uploaded + counts.thumbnails_uploaded} uploaded, "
            f"{counts.images_present + counts.thumbnails_present} already published",
        )

    source = _SourceTar(env)
    staging = env.scratch / "media"
    staging.mkdir(exist_ok=True)

    async def image(entry: tuple[str, tuple[str, str, str]]) -> None:
        key, (sha, path, mime) = entry
        if await store.stat(key) is not None:
            counts.images_present += 1
        else:
            snapshot = await source.get()
            local = staging / Path(key).name
            digest = await asyncio.to_thread(snapshot.copy_to, path, local)
            if digest != sha:
                # The key would name other bytes for good: never publish them.
                raise StorageError(
                    f"{path}: snapshot bytes hash to {digest}, media.jsonl says {sha}",
                    retryable=False,
                )
            await store.put_file(key, local, mime, cache_control=MEDIA_CACHE_CONTROL, sha256=sha)
            local.unlink()
            counts.images_uploaded += 1
        advance()

    try:
        await _bounded(images.items(), image, concurrency)
    finally:
        source.close()

    async def missing_previews(batch: list[str]) -> list[str]:
        missing: list[str] = []

        async def check(sha: str) -> None:
            if await store.stat(thumbnail_key(sha, spec)) is None:
                missing.append(sha)
            else:
                counts.thumbnails_present += 1
                advance()

        await _bounded(batch, check, concurrency)
        return missing

    async def preview(row: tuple[str, str, bytes]) -> None:
        sha, mime, data = row
        await store.put_bytes(
            thumbnail_key(sha, spec), data, mime, cache_control=MEDIA_CACHE_CONTROL
        )
        counts.thumbnails_uploaded += 1
        advance()

    for start in range(0, len(previewed), PREVIEW_BATCH):
        missing = await missing_previews(previewed[start : start + PREVIEW_BATCH])
        if missing:
            await _bounded(await thumbnail_data(conn, spec, missing), preview, concurrency)
    return counts
