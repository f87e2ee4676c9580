"""The storage contract: the `Store` protocol every backend implements, its errors and
object info, and the key and digest rules all backends share.

Keys are POSIX paths relative to the store root; writes overwrite, so a retried activity
rewrites the same keys (idempotent uploads). Backends: pressroom.storage.local (a directory)
and pressroom.storage.s3 (S3-compatible buckets); `pressroom.storage.open_store` picks one.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

__all__ = ["ObjectInfo", "StorageError", "Store", "check_key", "sha256_file"]


class StorageError(Exception):
    """A storage operation failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object without reading it."""

    size: int
    sha256: str | None  # None when the object was written without Pressroom's metadata
    content_type: str | None = None
    cache_control: str | None = None


class Store(Protocol):
    """What the pipeline needs from a storage backend.

    `cache_control` is a hint for HTTP-serving backends (S3/R2 behind a CDN); `sha256` lets
    the caller pass a digest it already has. `stat` returns None for a missing object.
    """

    location: str

    async def put_file(
        self,
        key: str,
        src: Path,
        content_type: str | None = None,
        *,
        cache_control: str | None = None,
        sha256: str | None = None,
    ) -> None: ...

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        *,
        cache_control: str | None = None,
    ) -> None: ...

    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def get_file(self, key: str, dest: Path) -> None: ...

    async def get_bytes(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def list_keys(self, prefix: str) -> list[str]: ...

    def iter_children(self, prefix: str) -> AsyncIterator[str]:
        """The names directly under `prefix`, one level deep: an object's name, or a
        folder's name with a trailing `/`. Streamed (S3: a delimited, paginated listing), so a
        folder of many thousand jobs is walked in bounded memory."""
        ...

    async def delete_prefix(self, prefix: str, *, keep: Collection[str] = ()) -> int:
        """Delete every object under `prefix` except the keys in `keep`; returns how many."""
        ...

    def url_for(self, key: str) -> str: ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the store root (absolute, `..`, NUL, empty parts)."""
    if not key or "\x00" in key or key.startswith("/") or "\\" in key:
        raise StorageError(f"invalid storage key {key!r}", retryable=False)
    parts = PurePosixPath(key).parts
    if any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key {key!r}", retryable=False)
    return key


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
