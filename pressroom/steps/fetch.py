"""Step 1, fetch: materialise the source, validate it, snapshot posts and images to the work store.

The snapshot is an uncompressed tar of only the files later steps read (Markdown, images, and
the site's config and author files, `conventions.detect.is_site_file`), in sorted order, so
every later step (on any worker) sees exactly the same tree.

A file that cannot be part of the tree is left out and reported, never a failed fetch: a name
that is not UTF-8 (listed with its printable form, `sources.printable_path`) and, in a local
directory, a file with several hard links. The reports go to `WorkKeys.fetch_errors` (always
written, so a retried fetch replaces them); the parse step puts them first in the job's
errors.
"""

from __future__ import annotations

import asyncio
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pressroom.content.media import is_image_path
from pressroom.content.posts import is_post_path
from pressroom.conventions.detect import is_site_file
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
from pressroom.steps.env import StepEnv
from pressroom.storage.workstore import write_jsonl

__all__ = ["FetchInput", "fetch_source"]


@dataclass(frozen=True)
class FetchInput:
    """`options` is the source policy (roots, buckets, network allowlist, time limit);
    `client_revision` the client's revision id (None: the content hash)."""

    repo_url: str
    limits: SourceLimits
    client_revision: str | None = None
    options: FetchOptions | None = None


def _snapshot(root: Path, files: list[SourceFile], dest: Path) -> None:
    with tarfile.open(dest, "w") as tar:
        for f in files:
            info = tar.gettarinfo(str(root / f.path), arcname=f.path)
            # Normalise metadata so the snapshot depends on content only.
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o644
            with (root / f.path).open("rb") as fh:
                tar.addfile(info, fh)


async def fetch_source(req: FetchInput, env: StepEnv) -> SourceSummary:
    """Remote archives are downloaded with `env.http` (the guarded session)."""
    progress, scratch = env.progress, env.scratch
    progress(0, 3, "materialising source")
    problems: list[PostError] = []
    root = await materialize_source_async(
        req.repo_url, scratch / "src", req.limits, req.options, env.http, problems=problems
    )
    files = await asyncio.to_thread(list_source_files, root)
    wanted = [
        f for f in files if is_post_path(f.path) or is_image_path(f.path) or is_site_file(f.path)
    ]
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
    await env.store.put_file(env.keys.fetch_errors, problems_path, "application/x-ndjson")
    progress(1, 3, f"{len(relevant)} files to snapshot")
    content_id = compute_revision_id(relevant)
    tar_path = scratch / "source.tar"
    await asyncio.to_thread(_snapshot, root, relevant, tar_path)
    progress(2, 3, "uploading snapshot")
    await env.store.put_file(env.keys.source, tar_path, "application/x-tar")
    progress(3, 3, "done")
    return SourceSummary(
        revision_id=req.client_revision or content_id,
        content_id=content_id,
        files=len(relevant),
        bytes=sum(f.size for f in relevant),
        posts_found=sum(1 for f in relevant if is_post_path(f.path)),
        images_found=sum(1 for f in relevant if is_image_path(f.path)),
        file_errors=len(problems),
    )
