"""`s3://bucket/prefix/` sources: every object under the prefix, downloaded under the limits.

Only buckets named in `SOURCE_S3_BUCKETS` are read (the worker's S3 credentials may reach
buckets a job submitter must not). Object keys become relative paths below the prefix; a key
that would climb out (`..`, absolute, backslashes, NUL) makes the whole source unsafe. File
count and sizes are checked from the listing before anything is downloaded, and the bytes
actually received are counted again while streaming.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pressroom.sources.errors import SourceError, SourceUnavailable
from pressroom.sources.tree import SourceLimits
from pressroom.storage.base import StorageError
from pressroom.storage.s3 import s3_client, storage_error
from pressroom.storage.s3_config import S3Config, parse_s3_url

__all__ = ["fetch_s3"]

_CONCURRENCY = 8
_CHUNK = 1 << 20


def _relative(key: str, prefix: str, url: str) -> PurePosixPath | None:
    """The object's path below the prefix; None for directory markers."""
    rel = key[len(prefix) + 1 :] if prefix else key
    if not rel or rel.endswith("/"):
        return None
    parts = rel.split("/")
    if "\x00" in rel or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        raise SourceError(f"unsafe object key {key!r} under {url}")
    return PurePosixPath(*parts)


def _fail(exc: Exception, url: str) -> Exception:
    err = storage_error("read", url, exc)
    return SourceUnavailable(str(err)) if err.retryable else SourceError(str(err))


async def _download(client: Any, bucket: str, key: str, out: Path, expected: int) -> None:
    resp = await client.get_object(Bucket=bucket, Key=key)
    body = resp["Body"]
    received = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    async with body:
        with out.open("xb") as fh:
            while chunk := await body.read(_CHUNK):
                received += len(chunk)
                if received > expected:  # the object changed since it was listed
                    raise SourceError(f"object {key!r} grew while it was downloaded")
                fh.write(chunk)


async def _list_objects(
    client: Any, bucket: str, prefix: str, url: str, limits: SourceLimits
) -> list[tuple[str, PurePosixPath, int]]:
    """(key, relative path, size) of every object under the prefix, checked against `limits`
    from the listing before anything is downloaded."""
    objects: list[tuple[str, PurePosixPath, int]] = []
    total = 0
    try:
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
            for obj in page.get("Contents", []):
                rel = _relative(obj["Key"], prefix, url)
                if rel is None:
                    continue
                size = int(obj.get("Size", 0))
                total += size
                if len(objects) >= limits.max_files:
                    raise SourceError(f"{url}: more than max_files={limits.max_files}")
                if size > limits.max_file_bytes:
                    raise SourceError(
                        f"{url}: {rel} is larger than max_file_bytes={limits.max_file_bytes}"
                    )
                if total > limits.max_total_bytes:
                    raise SourceError(
                        f"{url}: total size exceeds max_total_bytes={limits.max_total_bytes}"
                    )
                objects.append((obj["Key"], rel, size))
    except (ClientError, BotoCoreError) as exc:
        raise _fail(exc, url) from None
    if not objects:
        raise SourceError(f"no objects under {url}")
    return objects


async def fetch_s3(
    url: str,
    staging: Path,
    limits: SourceLimits,
    *,
    buckets: Sequence[str],
    config: S3Config,
) -> Path:
    """Download the objects under `url` into `staging/s3` and return that directory."""
    try:
        bucket, prefix = parse_s3_url(url)
    except StorageError as exc:
        raise SourceError(f"invalid s3:// source {url!r}: {exc}") from None
    if bucket not in buckets:
        raise SourceError(f"s3:// source bucket {bucket!r} is not allowed (SOURCE_S3_BUCKETS)")
    root = staging / "s3"
    root.mkdir()
    async with s3_client(config) as client:
        objects = await _list_objects(client, bucket, prefix, url, limits)
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def one(key: str, rel: PurePosixPath, size: int) -> None:
            async with gate:
                try:
                    await _download(client, bucket, key, root / rel, size)
                except (ClientError, BotoCoreError) as exc:
                    raise _fail(exc, f"s3://{bucket}/{key}") from None
                except (FileExistsError, NotADirectoryError, IsADirectoryError):
                    # "a" and "a/b" both exist as keys: not representable as a tree.
                    raise SourceError(f"object key {key!r} conflicts with another key") from None

        try:
            async with asyncio.TaskGroup() as group:
                for key, rel, size in objects:
                    group.create_task(one(key, rel, size))
        except ExceptionGroup as group_error:
            # The first failure says why; the rest were cancelled with it.
            raise group_error.exceptions[0] from None
    return root
