"""Step 1, fetch: materialise the source, validate it, snapshot posts and images to the work store.

The snapshot is an uncompressed tar of only the files later steps read (Markdown and images),
in sorted order, so every later step (on any worker) sees exactly the same tree.

A file that cannot be part of the tree is left out and reported, never a failed fetch: a name
that is not UTF-8 (listed with its printable form, `sources.printable_path`) and, in a local
directory, a file with several hard links. The reports go to `WorkKeys.fetch_errors` (always
written, so a retried fetch replaces them); the parse step puts them first in the job's
errors.
"""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import aiohttp

from pressroom.content.media import is_image_path
from pressroom.content.posts import is_post_path
from pressroom.models import PostError, SourceSummary
from pressroom.sources import (
    FetchOptions,
    SourceFile,
    SourceLimits,
    compute_revision_id,
    is_utf8_path,
    list_source_files,
    materialize_source_async,
    printable_path,
)
from pressroom.steps import Progress
from pressroom.storage.base import Store
from pressroom.storage.workstore import WorkKeys, write_jsonl


def _snapshot(root: Path, files: list[SourceFile], dest: Path) -> None:
    with tarfile.open(dest, "w") as tar:
        for f in files:
            info = tar.gettarinfo(str(root / f.path), arcname=f.path)
            # Normalise metadata so the snapshot depends on content only.
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o644
            with (root / f.path).open("rb") as fh:
                tar.addfile(info, fh)


async def fetch_source(
    store: Store,
    keys: WorkKeys,
    repo_url: str,
    limits: SourceLimits,
    scratch: Path,
    client_revision: str | None,
    progress: Progress,
    *,
    options: FetchOptions | None = None,
    http: aiohttp.ClientSession | None = None,
) -> SourceSummary:
    """`options` is the source policy (roots, buckets, network allowlist, time limit) and
    `http` the guarded session remote archives are downloaded with (see pressroom.fetchers)."""
    progress(0, 3, "materialising source")
    problems: list[PostError] = []
    root = await materialize_source_async(
        repo_url, scratch / "src", limits, options, http, problems=problems
    )
    files = await asyncio.to_thread(list_source_files, root)
    wanted = [f for f in files if is_post_path(f.path) or is_image_path(f.path)]
    relevant = [f for f in wanted if is_utf8_path(f.path)]
    problems += [
        PostError(
            path=printable_path(f.path),
            reason="file name is not valid UTF-8 (undecodable bytes shown as \\xNN); rename it",
        )
        for f in wanted
        if not is_utf8_path(f.path)
    ]
    problems_path = scratch / "source-errors.jsonl"
    await asyncio.to_thread(
        write_jsonl, problems_path, (p.model_dump(mode="json") for p in problems)
    )
    await store.put_file(keys.fetch_errors, problems_path, "application/x-ndjson")
    progress(1, 3, f"{len(relevant)} files to snapshot")
    content_id = compute_revision_id(relevant)
    revision_id = client_revision or content_id
    tar_path = scratch / "source.tar"
    await asyncio.to_thread(_snapshot, root, relevant, tar_path)
    progress(2, 3, "uploading snapshot")
    await store.put_file(keys.source, tar_path, "application/x-tar")
    progress(3, 3, "done")
    return SourceSummary(
        revision_id=revision_id,
        content_id=content_id,
        files=len(relevant),
        bytes=sum(f.size for f in relevant),
        posts_found=sum(1 for f in relevant if is_post_path(f.path)),
        images_found=sum(1 for f in relevant if is_image_path(f.path)),
    )
