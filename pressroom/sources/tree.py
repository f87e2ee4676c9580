"""A source tree on disk: its limits, the running budget that enforces them while files are
written, listing its files, and the content fingerprint that names a revision.

File names: a name that is not valid UTF-8 cannot travel in JSON, Postgres or workflow
history. `printable_path` gives its printable form (undecodable bytes as `\\xNN`) and
`is_utf8_path` tells them apart; the fetch step reports such files and leaves them out.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pressroom.sources.errors import SourceError

__all__ = [
    "Budget",
    "SourceFile",
    "SourceLimits",
    "compute_revision_id",
    "copy_stream",
    "has_markdown",
    "is_utf8_path",
    "list_source_files",
    "printable_path",
]

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
CHUNK = 64 * 1024
# Honest text compresses well (a file of spaces can exceed any ratio), so the ratio guard only
# applies once an archive or member has produced this much data: bombs are large by definition.
_RATIO_FLOOR_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SourceLimits:
    max_total_bytes: int
    max_files: int
    max_file_bytes: int
    max_compression_ratio: float = 200.0


@dataclass(frozen=True)
class SourceFile:
    path: str  # repo-relative POSIX path
    size: int
    sha256: str


def printable_path(rel: str) -> str:
    """`rel` as text that always encodes: bytes that are not UTF-8 (kept by os.fsdecode as
    lone surrogates) become `\\xNN` escapes, e.g. `_posts/caf\\xe9.md`."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


def is_utf8_path(rel: str) -> bool:
    """False for a name with bytes that are not UTF-8 (see `printable_path`)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Budget:
    """Running totals checked against SourceLimits while data is written."""

    def __init__(self, limits: SourceLimits, origin: str, archive_bytes: int | None = None) -> None:
        self.limits = limits
        self.origin = origin
        self.archive_bytes = archive_bytes  # size on disk of the archive, None for a directory
        self.files = 0
        self.dirs = 0
        self.total = 0

    def add_file(self, name: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise SourceError(
                f"{self.origin}: too many files (more than max_files={self.limits.max_files}; "
                f"stopped at {name!r})"
            )

    def add_dir(self, name: str) -> None:
        # Directories are not files, but an archive of a million empty dirs is still abuse.
        self.dirs += 1
        if self.dirs > self.limits.max_files:
            raise SourceError(
                f"{self.origin}: too many directories (more than {self.limits.max_files}; "
                f"stopped at {name!r})"
            )

    def add_bytes(self, name: str, file_bytes: int, added: int) -> None:
        """Account `added` more bytes, `file_bytes` being the running size of file `name`."""
        self.total += added
        if file_bytes > self.limits.max_file_bytes:
            raise SourceError(
                f"{self.origin}: file {name!r} is larger than "
                f"max_file_bytes={self.limits.max_file_bytes}"
            )
        if self.total > self.limits.max_total_bytes:
            raise SourceError(
                f"{self.origin}: total size exceeds max_total_bytes="
                f"{self.limits.max_total_bytes} (at {name!r})"
            )
        if self.archive_bytes is not None:
            # Archive-wide: many members, each under the floor, can still add up to a bomb.
            self.check_ratio(self.origin, self.total, self.archive_bytes)

    def check_ratio(self, name: str, produced: int, compressed: int) -> None:
        if produced <= _RATIO_FLOOR_BYTES:
            return
        ratio = produced / max(compressed, 1)
        if ratio > self.limits.max_compression_ratio:
            what = "the archive" if name == self.origin else repr(name)
            raise SourceError(
                f"{self.origin}: {what} expands more than max_compression_ratio="
                f"{self.limits.max_compression_ratio:g} (zip bomb?)"
            )


def copy_stream(
    read: Callable[[int], bytes],
    out_path: Path,
    name: str,
    budget: Budget,
    compressed: int | None = None,
) -> None:
    """Stream into a new file, counting real bytes (headers and stat sizes can lie)."""
    written = 0
    with out_path.open("xb") as out:
        while chunk := read(CHUNK):
            written += len(chunk)
            budget.add_bytes(name, written, len(chunk))
            if compressed is not None:
                budget.check_ratio(name, written, compressed)
            out.write(chunk)


def _walk_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(repo-relative POSIX path, path) of regular files, skipping hidden dirs and symlinks."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not (here / d).is_symlink()]
        for f in filenames:
            path = here / f
            if stat.S_ISREG(path.lstat().st_mode):
                yield path.relative_to(root).as_posix(), path


def has_markdown(root: Path) -> bool:
    return any(Path(rel).suffix.lower() in MARKDOWN_SUFFIXES for rel, _ in _walk_files(root))


def list_source_files(root: Path) -> list[SourceFile]:
    """Every regular file under `root`, sorted by path (no `.git/`, hidden dirs or symlinks)."""
    files: list[SourceFile] = []
    for rel, path in _walk_files(root):
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        files.append(SourceFile(path=rel, size=size, sha256=digest.hexdigest()))
    files.sort(key=lambda f: f.path)
    return files


def compute_revision_id(files: Iterable[SourceFile]) -> str:
    """ "r-" + 16 hex of sha256 over sorted "path\\0sha256\\n" lines: a content fingerprint."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.sha256}\n".encode())
    return "r-" + digest.hexdigest()[:16]
