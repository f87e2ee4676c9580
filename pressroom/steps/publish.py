"""Step 7, publish: copy the built artifacts under `{distFolder}/{revisionId}/`, then `latest.json`.

The revision's files are immutable once written (same revision, same bytes), served with a
long immutable cache lifetime; `latest.json` is written last, with a short one, so a reader
that follows it always finds a complete revision. Uploads run concurrently (bounded), and a
file already published with the same sha256 is skipped: a retried publish, or a second job
for the same revision, uploads nothing it does not have to.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg

from pressroom.artifacts import MANIFEST_JSON
from pressroom.faults import fault_point
from pressroom.models import PublishSummary
from pressroom.revisions import RevisionOrder, latest_document, write_latest_if_newer
from pressroom.steps import Progress
from pressroom.storage import Store, sha256_file
from pressroom.workstore import WorkKeys

CONTENT_TYPES = {".json": "application/json"}
# Revision files never change once written (their key names the revision).
REVISION_CACHE_CONTROL = "public, max-age=31536000, immutable"
# The pointer moves with every publish: caches must re-check it soon.
LATEST_CACHE_CONTROL = "public, max-age=60"


def latest_key(dist_folder: str) -> str:
    return f"{dist_folder}/latest.json"


def revision_prefix(dist_folder: str, revision_id: str) -> str:
    return f"{dist_folder}/{revision_id}"


# What a manifest says about the revision's content. The rest (created_at, and counts such
# as embeddings computed vs reused) describes the job that built it, and differs per job.
_MANIFEST_CONTENT = ("format", "site", "revision", "embedding", "files")


def _comparable_manifest(raw: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    return {key: doc.get(key) for key in _MANIFEST_CONTENT}


async def _needs_upload(store: Store, src_key: str, dest_key: str, name: str) -> bool:
    """False when `dest_key` already holds this artifact (retries, re-runs of a revision)."""
    dest = await store.stat(dest_key)
    if dest is None:
        return True
    if name == MANIFEST_JSON:
        # Same files (by sha256) and model: the revision is already published as it is, and
        # the first publication's manifest stands.
        ours = _comparable_manifest(await store.get_bytes(src_key))
        return ours is None or ours != _comparable_manifest(await store.get_bytes(dest_key))
    src = await store.stat(src_key)
    return src is None or src.sha256 is None or src.sha256 != dest.sha256


async def upload_revision(
    store: Store,
    keys: WorkKeys,
    prefix: str,
    files: list[str],
    scratch: Path,
    progress: Progress,
    *,
    concurrency: int = 8,
) -> int:
    """Copy the built files from the work store to `prefix/`; returns how many were uploaded.

    Files already there with the same sha256 are skipped, so a retried or repeated publish
    only sends what is missing. At most `concurrency` files are in flight; the manifest goes
    last, once every file it lists is in place.
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    total = len(files) + 1  # + latest.json
    done = 0
    uploaded = 0

    async def one(name: str) -> None:
        nonlocal done, uploaded
        src_key, dest_key = keys.artifact(name), f"{prefix}/{name}"
        async with gate:
            if await _needs_upload(store, src_key, dest_key, name):
                local = scratch / name
                await store.get_file(src_key, local)
                digest = await asyncio.to_thread(sha256_file, local)
                await store.put_file(
                    dest_key,
                    local,
                    CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"),
                    cache_control=REVISION_CACHE_CONTROL,
                    sha256=digest,
                )
                local.unlink()
                uploaded += 1
                detail = f"uploaded {name}"
            else:
                detail = f"{name} already published"
        done += 1
        progress(done, total, detail)

    data = [name for name in files if name != MANIFEST_JSON]
    try:
        async with asyncio.TaskGroup() as group:
            for name in data:
                group.create_task(one(name))
    except ExceptionGroup as group_error:
        # Classify the first failure as if it were the only one (StorageError retryability).
        raise group_error.exceptions[0] from None
    if len(data) != len(files):
        await one(MANIFEST_JSON)
    return uploaded


async def publish_artifacts(
    store: Store,
    keys: WorkKeys,
    *,
    site: str,
    dist_folder: str,
    revision_id: str,
    files: list[str],
    published_at: str,
    scratch: Path,
    progress: Progress,
    update_latest: bool = True,
    order: RevisionOrder | None = None,
    pool: asyncpg.Pool | None = None,
    concurrency: int = 8,
) -> PublishSummary:
    """Upload the revision's files, then (with `update_latest`) `latest.json`. Given the
    job's `order` and a `pool` for the lock, `latest.json` is written only if the one there
    does not name a later job (see `pressroom.revisions`)."""
    prefix = revision_prefix(dist_folder, revision_id)
    uploaded = await upload_revision(
        store, keys, prefix, files, scratch, progress, concurrency=concurrency
    )
    latest = {
        "site": site,
        "revision": revision_id,
        "manifest": f"{revision_id}/manifest.json",
        "publishedAt": published_at,
    }
    await fault_point("publish:before-latest")
    written = False
    if update_latest and order is not None and pool is not None:
        latest = latest_document(
            site=site, revision_id=revision_id, published_at=published_at, order=order
        )
        async with pool.acquire() as conn, conn.transaction():
            written = await write_latest_if_newer(
                conn,
                store,
                latest_key(dist_folder),
                latest,
                order,
                cache_control=LATEST_CACHE_CONTROL,
            )
    elif update_latest:
        await store.put_bytes(
            latest_key(dist_folder),
            json.dumps(latest, indent=2).encode(),
            "application/json",
            cache_control=LATEST_CACHE_CONTROL,
        )
        written = True
    progress(
        len(files) + 1,
        len(files) + 1,
        "latest.json written" if written else "latest.json left as is",
    )
    return PublishSummary(
        base_url=store.url_for(prefix),
        latest_url=store.url_for(latest_key(dist_folder)),
        files=[f"{prefix}/{name}" for name in files],
        uploaded=uploaded + int(written),
        skipped=len(files) - uploaded,
        latest_updated=written,
    )
