"""A directory on the local filesystem as a `Store` (the default artifact and work store)."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path

from pressroom.storage.base import ObjectInfo, StorageError, check_key, sha256_file

__all__ = ["LocalStore"]


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

    async def iter_children(self, prefix: str) -> AsyncIterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return
        # Sorted names only (a few dozen bytes each), not the tree below them.
        names = await asyncio.to_thread(_children, base)
        for name in names:
            yield name

    async def delete_prefix(self, prefix: str, *, keep: Collection[str] = ()) -> int:
        base = self._path(prefix.rstrip("/"))
        if not base.exists():
            return 0
        if keep:
            kept = {self._path(key) for key in keep}
            return await asyncio.to_thread(_delete_all_but, base, kept)
        count = sum(1 for p in base.rglob("*") if p.is_file())
        await asyncio.to_thread(shutil.rmtree, base, True)
        return count


def _children(base: Path) -> list[str]:
    with os.scandir(base) as entries:
        return sorted(
            f"{e.name}/" if e.is_dir(follow_symlinks=False) else e.name
            for e in entries
            if not e.name.endswith(".tmp")
        )


def _delete_all_but(base: Path, kept: set[Path]) -> int:
    """Unlink every file under `base` not in `kept`, then the folders left empty."""
    count = 0
    for path in sorted(base.rglob("*"), reverse=True):  # children before their folder
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif path not in kept:
            path.unlink(missing_ok=True)
            count += 0 if path.name.endswith(".tmp") else 1
    return count
