"""Step 7, publish: copy the built artifacts under `{distFolder}/{revisionId}/`, then `latest.json`.

A published revision is immutable (pressroom/publish/layout.py): once its manifest is there,
no job writes the folder again; a job with the same output reuses it, one with other output
is refused. Revision files are served with a long immutable cache lifetime; `latest.json` is
written last, with a short one, so a reader that follows it always finds a complete revision.
Uploads run concurrently (bounded); the manifest goes last, and marks the revision published.
With media publishing on, the revision's images and previews go to their content-addressed
keys (`pressroom.steps.publish_media`) before any of the revision's files.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from pressroom.content.thumbnails import THUMBNAIL_SPEC
from pressroom.db.locks import advisory_lock
from pressroom.models import ArtifactFile, MediaCounts, PublishSummary
from pressroom.publish.artifacts import MANIFEST_JSON
from pressroom.publish.latest import latest_document, write_latest_if_newer
from pressroom.publish.layout import (
    PublishRefused,
    claim_folder,
    latest_key,
    manifest_key,
    publish_lock_name,
    published_manifest,
    refuse_other_published,
    revision_prefix,
)
from pressroom.runtime.faults import fault_point
from pressroom.search.search_db_writer import SEARCH_DB_CONTENT_TYPE
from pressroom.steps.env import DatabaseEnv, RevisionTarget, StepEnv
from pressroom.steps.publish_media import publish_media
from pressroom.storage.base import Store, sha256_file

__all__ = ["PublishInput", "publish_artifacts", "write_latest"]

CONTENT_TYPES = {".json": "application/json", ".db": SEARCH_DB_CONTENT_TYPE}
# Revision files never change once written (their key names the revision).
REVISION_CACHE_CONTROL = "public, max-age=31536000, immutable"
# The pointer moves with every publish: caches must re-check it soon.
LATEST_CACHE_CONTROL = "public, max-age=60"


async def _needs_upload(store: Store, src_key: str, dest_key: str) -> bool:
    """False when `dest_key` already holds these bytes (a retried publish of this revision).

    Only called while the revision has no manifest, i.e. is not published yet: a file of an
    unpublished folder may be replaced, a published revision's never is.
    """
    dest = await store.stat(dest_key)
    if dest is None:
        return True
    src = await store.stat(src_key)
    return src is None or src.sha256 is None or src.sha256 != dest.sha256


async def _published_files(
    store: Store, dist_folder: str, revision_id: str, manifest: dict[str, Any]
) -> list[ArtifactFile]:
    """What an already published revision holds, as its manifest lists it (and the manifest)."""
    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    files = [
        ArtifactFile(name=name, bytes=int(meta.get("bytes", 0)), sha256=str(meta.get("sha256")))
        for name, meta in sorted(listed.items())
        if isinstance(meta, dict)
    ]
    key = manifest_key(dist_folder, revision_id)
    raw = await store.get_bytes(key)
    files.append(
        ArtifactFile(name=MANIFEST_JSON, bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    )
    return files


async def upload_revision(
    env: StepEnv, prefix: str, files: list[str], *, concurrency: int = 8
) -> int:
    """Copy the built files from the work store to `prefix/`; returns how many were uploaded.

    Files already there with the same sha256 are skipped, so a retried or repeated publish
    only sends what is missing. At most `concurrency` files are in flight; the manifest goes
    last, once every file it lists is in place.
    """
    store = env.store
    gate = asyncio.Semaphore(max(1, concurrency))
    total = len(files) + 1  # + latest.json
    done = 0
    uploaded = 0

    async def one(name: str) -> None:
        nonlocal done, uploaded
        src_key, dest_key = env.keys.artifact(name), f"{prefix}/{name}"
        async with gate:
            if await _needs_upload(store, src_key, dest_key):
                local = env.scratch / name
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
        env.progress(done, total, detail)

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


@dataclass(frozen=True)
class PublishInput:
    """`files` are what the build made (names; bytes and sha256 when known). `update_latest`
    False leaves latest.json to the switch step."""

    target: RevisionTarget
    files: list[ArtifactFile]
    published_at: str
    update_latest: bool = True
    concurrency: int = 8  # uploads in flight
    media: bool = False  # also publish the revision's images and previews (`media/`)


async def publish_artifacts(req: PublishInput, env: DatabaseEnv) -> PublishSummary:
    """Publish the revision's files under `{dist_folder}/{revision_id}/`, then (with
    `update_latest`) `latest.json`, if the job's order and kind put it ahead of the one there.

    The folder must belong to the site (claimed on first use). A revision already published
    with the same output key is reused as it is: nothing is uploaded and the summary lists the
    published files. One published with another output key is refused (PublishRefused).
    Publishers of one revision folder are serialised by a Postgres advisory lock.
    """
    target, store = req.target, env.store
    prefix = revision_prefix(target.dist_folder, target.revision_id)
    names = [f.name for f in req.files]
    async with env.pool.acquire() as conn:
        await claim_folder(conn, store, target.dist_folder, target.site, target.job_id)
        manifest, published, uploaded, media = await _publish_folder(req, env, conn, prefix)
        await fault_point("publish:before-latest")
        written = False
        if req.update_latest:
            async with conn.transaction():
                written = await write_latest(conn, store, req.target, req.published_at)
    env.progress(
        len(names) + 1,
        len(names) + 1,
        "latest.json written" if written else "latest.json left as is",
    )
    return PublishSummary(
        base_url=store.url_for(prefix),
        latest_url=store.url_for(latest_key(target.dist_folder)),
        files=[f"{prefix}/{name}" for name in names],
        uploaded=uploaded + int(written),
        skipped=len(names) - uploaded,
        latest_updated=written,
        published=published,
        reused=manifest is not None,
        media=media,
    )


async def _publish_folder(
    req: PublishInput, env: DatabaseEnv, conn: asyncpg.Connection, prefix: str
) -> tuple[dict[str, Any] | None, list[ArtifactFile], int, MediaCounts | None]:
    """Upload the revision's folder unless it is published already, under the folder's
    advisory lock: (the published manifest or None, the files it holds, files uploaded,
    media counts). Media go first: once the manifest is there, so are they."""
    target, store = req.target, env.store
    async with conn.transaction():
        await advisory_lock(conn, publish_lock_name(store, target.dist_folder, target.revision_id))
        manifest = await published_manifest(store, target.dist_folder, target.revision_id)
        refuse_other_published(
            manifest,
            target.output_key,
            dist_folder=target.dist_folder,
            revision_id=target.revision_id,
        )
        if manifest is not None:
            files = await _published_files(store, target.dist_folder, target.revision_id, manifest)
            return manifest, files, 0, None
        if not req.files:
            # Only a job reusing an unchanged revision sends no files: its folder was
            # published when the job began and must not be replaced by an empty one.
            raise PublishRefused(
                f"revision {target.revision_id} is no longer published under {prefix}/ "
                "(its manifest.json is gone); run the job again to rebuild it"
            )
        media = None
        if req.media:
            media = await publish_media(env, conn, spec=THUMBNAIL_SPEC, concurrency=req.concurrency)
        names = [f.name for f in req.files]
        uploaded = await upload_revision(env, prefix, names, concurrency=req.concurrency)
        return None, req.files, uploaded, media


async def write_latest(
    conn: asyncpg.Connection, store: Store, target: RevisionTarget, published_at: str
) -> bool:
    """latest.json names this revision, unless a later job's is there already (the caller
    holds a transaction: the check and the write are under its advisory lock)."""
    latest = latest_document(
        site=target.site,
        revision_id=target.revision_id,
        published_at=published_at,
        order=target.order,
        kind=target.kind,
    )
    return await write_latest_if_newer(
        conn,
        store,
        latest_key(target.dist_folder),
        latest,
        target.order,
        cache_control=LATEST_CACHE_CONTROL,
    )
