"""Object storage behind one small interface: published artifacts and the job work store.

`open_store(url)` picks the backend from the URL: a local directory (default), or
S3-compatible storage (R2, MinIO, AWS) for `s3://` (pressroom/storage_s3.py). Keys are POSIX
paths relative to the store root; writes overwrite, so a retried activity rewrites the same
keys (idempotent uploads).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pressroom.config import Settings


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

    async def delete_prefix(self, prefix: str) -> int: ...

    def url_for(self, key: str) -> str: ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the store root (absolute, `..`, NUL, empty parts)."""
    if not key or "\x00" in key or key.startswith("/") or "\\" in key:
        raise StorageError(f"invalid storage key {key!r}", retryable=False)
    parts = PurePosixPath(key).parts
    if any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key {key!r}", retryable=False)
    return key


def _temp_beside(dest: Path) -> Path:
    # Unique per write: two jobs in one worker may publish the same key at the same time.
    return dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


class LocalStore:
    """A directory on the local filesystem. Writes go to a temp file and are renamed into
    place, so a reader (or a crash) never sees a half-written object."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.location = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def url_for(self, key: str) -> str:
        return self._path(key).as_uri()

    async def put_file(
        self,
        key: str,
        src: Path,
        content_type: str | None = None,
        *,
        cache_control: str | None = None,
        sha256: str | None = None,
    ) -> None:
        # A directory has no content type or cache metadata: those are for HTTP backends.
        await asyncio.to_thread(self._write_atomic, key, lambda tmp: shutil.copyfile(src, tmp))

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        *,
        cache_control: str | None = None,
    ) -> None:
        await asyncio.to_thread(self._write_atomic, key, lambda tmp: tmp.write_bytes(data))

    def _write_atomic(self, key: str, write: Callable[[Path], object]) -> None:
        """Write to a temp file beside the object, then rename it into place."""
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(dest)
        write(tmp)
        os.replace(tmp, dest)

    async def get_file(self, key: str, dest: Path) -> None:
        src = self._path(key)
        if not src.is_file():
            raise StorageError(f"missing object {key}", retryable=False)
        dest.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, src, dest)

    async def get_bytes(self, key: str) -> bytes:
        src = self._path(key)
        if not src.is_file():
            raise StorageError(f"missing object {key}", retryable=False)
        return await asyncio.to_thread(src.read_bytes)

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def stat(self, key: str) -> ObjectInfo | None:
        # No metadata store beside the files: the digest is computed (the S3 store reads it
        # from object metadata instead).
        path = self._path(key)
        if not path.is_file():
            return None
        digest = await asyncio.to_thread(sha256_file, path)
        return ObjectInfo(size=path.stat().st_size, sha256=digest)

    async def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")
        )

    async def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix.rstrip("/"))
        if not base.exists():
            return 0
        count = sum(1 for p in base.rglob("*") if p.is_file())
        await asyncio.to_thread(shutil.rmtree, base, True)
        return count


@asynccontextmanager
async def open_store(url: str, settings: Settings | None = None) -> AsyncIterator[Store]:
    """Open the store named by `url`: a path, a `file://` URL or `s3://bucket/prefix`.

    S3 connection settings (endpoint, region, credentials) come from `settings`, or from the
    environment when it is None.
    """
    if url.startswith("s3://"):
        from pressroom.storage.s3 import open_s3_store  # boto is only loaded when used

        async with open_s3_store(url, settings) as s3_store:
            yield s3_store
        return
    path = url.removeprefix("file://")
    yield LocalStore(Path(path))


def store_location(url: str) -> str:
    """The `location` the store opened from `url` will have, without opening it: what
    Postgres records published folders under (pressroom/publication.py)."""
    if url.startswith("s3://"):
        # As S3Store names itself (parsed here so the API need not load boto).
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return str(Path(url.removeprefix("file://")).resolve())


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
