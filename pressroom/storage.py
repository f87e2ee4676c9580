"""Object storage behind one small interface: published artifacts and the job work store.

`open_store(url)` picks the backend from the URL: a local directory (default) today, and
S3-compatible storage (R2, MinIO, AWS) as another `Store` implementation. Keys are POSIX
paths relative to the store root; writes overwrite, so a retried activity rewrites the same
keys (idempotent uploads).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Protocol


class StorageError(Exception):
    """A storage operation failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Store(Protocol):
    """What the pipeline needs from a storage backend."""

    location: str

    async def put_file(self, key: str, src: Path, content_type: str | None = None) -> None: ...

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

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

    async def put_file(self, key: str, src: Path, content_type: str | None = None) -> None:
        await asyncio.to_thread(self._put_file_sync, key, src)

    def _put_file_sync(self, key: str, src: Path) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)

    async def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        await asyncio.to_thread(self._put_bytes_sync, key, data)

    def _put_bytes_sync(self, key: str, data: bytes) -> None:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
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
async def open_store(url: str) -> AsyncIterator[Store]:
    """Open the store named by `url`: a path or `file://` URL (`s3://` comes with S3 support)."""
    if url.startswith("s3://"):
        raise StorageError(
            "s3:// artifact stores are not supported by this build yet", retryable=False
        )
    path = url.removeprefix("file://")
    yield LocalStore(Path(path))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
