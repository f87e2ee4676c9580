"""Extracting a `.tar`/`.tar.gz`/`.tgz`/`.zip` archive into a directory, safely.

Every member is judged before anything is written: absolute paths and `..` refuse the whole
archive, as do device and special files, sparse tar members, encrypted zip entries and
duplicate or conflicting entries. A link whose target leaves the tree makes the archive
unsafe; a symlink inside the tree is skipped (symlinks are never materialized); a tar hard
link inside the tree is extracted as a copy of its target (it carries real content). Sizes,
counts and the compression ratio are counted while data is written (`tree.Budget`), so
lying headers and decompression bombs stop at the limit.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from pressroom.sources.errors import SourceError
from pressroom.sources.tree import Budget, SourceLimits, copy_stream

__all__ = ["extract_archive"]

_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar")
# Junk that macOS adds to zip files; never part of the site.
_ZIP_JUNK_PREFIX = "__MACOSX/"


def extract_archive(archive: Path, dest: Path, limits: SourceLimits) -> Path:
    """Extract `archive` into `dest` and return the tree's root: the single top-level
    directory when there is one (GitHub-style archives), else `dest`."""
    name = archive.name.lower()
    if name.endswith(_TAR_SUFFIXES):
        _extract_tar(archive, dest, limits)
    elif name.endswith(".zip"):
        _extract_zip(archive, dest, limits)
    else:
        raise SourceError(
            f"source {archive} is neither a directory nor a supported archive "
            f"(.tar.gz, .tgz, .tar, .zip)"
        )
    return _single_top_dir(dest)


def _safe_member_path(name: str, archive: Path) -> PurePosixPath:
    """The member's normalized relative path; SourceError if it is absolute or climbs out."""
    if "\x00" in name:
        raise SourceError(f"unsafe archive {archive.name}: NUL byte in entry name {name!r}")
    # Backslashes are path separators for zips made on Windows: judge them as such.
    unified = name.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise SourceError(f"unsafe archive {archive.name}: absolute path {name!r}")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SourceError(f"unsafe archive {archive.name}: path traversal in {name!r}")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _link_stays_inside(member_dir: PurePosixPath, target: str) -> bool:
    unified = target.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        return False
    depth = len(member_dir.parts) if str(member_dir) != "." else 0
    for part in unified.split("/"):
        if part in ("", "."):
            continue
        depth = depth - 1 if part == ".." else depth + 1
        if depth < 0:
            return False
    return True


def _extract_tar(archive: Path, dest: Path, limits: SourceLimits) -> None:
    budget = Budget(limits, archive.name, archive.stat().st_size)
    sizes: dict[PurePosixPath, int] = {}  # regular members seen so far, for hard links
    try:
        with tarfile.open(archive, mode="r:*") as tf:
            # Iterating reads one header at a time, so limits stop us before reading past them.
            selected = [m for m in tf if _admit_tar_member(m, archive, budget, sizes)]
            # Our checks above plus the stdlib's "data" filter (absolute/outside paths and links,
            # device files, unsafe permission bits) as a second, independent line of defense.
            tf.extractall(dest, members=selected, filter="data")
    except tarfile.FilterError as exc:
        raise SourceError(f"unsafe archive {archive.name}: {exc}") from exc
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise SourceError(f"not a valid tar archive: {archive.name} ({exc})") from exc
    except OSError as exc:
        # Corrupt compressed data (gzip.BadGzipFile, bz2) carries no errno; disk full or
        # permission errors do, and those are the environment's fault: let them retry.
        if exc.errno is not None:
            raise
        raise SourceError(f"not a valid tar archive: {archive.name} ({exc})") from exc


def _admit_tar_member(
    member: tarfile.TarInfo, archive: Path, budget: Budget, sizes: dict[PurePosixPath, int]
) -> bool:
    """Whether to extract `member` (counted against `budget`); SourceError if it is unsafe."""
    rel = _safe_member_path(member.name, archive)
    if str(rel) == ".":
        return False
    if member.isdir():
        budget.add_dir(member.name)
        return True
    if member.issparse():
        # Sparse members expand beyond their stored size.
        raise SourceError(f"unsupported archive {archive.name}: sparse file {member.name!r}")
    if member.isreg():
        budget.add_file(member.name)
        budget.add_bytes(member.name, member.size, member.size)
        sizes[rel] = member.size
        return True
    if member.issym():
        if not _link_stays_inside(rel.parent, member.linkname):
            raise SourceError(
                f"unsafe archive {archive.name}: symlink {member.name!r} points "
                f"outside the tree ({member.linkname!r})"
            )
        return False  # in-tree symlinks are skipped (module docstring)
    if member.islnk():
        # Hard link targets are member names, relative to the archive root.
        target = member.linkname
        if not _link_stays_inside(PurePosixPath("."), target):
            raise SourceError(
                f"unsafe archive {archive.name}: hard link {member.name!r} points "
                f"outside the tree ({target!r})"
            )
        size = sizes.get(_safe_member_path(target, archive))
        if size is None:
            raise SourceError(
                f"unsafe archive {archive.name}: hard link {member.name!r} targets "
                f"{target!r}, which is not a file earlier in the archive"
            )
        budget.add_file(member.name)
        budget.add_bytes(member.name, size, size)
        return True
    kind = "device file" if (member.ischr() or member.isblk()) else "special file"
    raise SourceError(f"unsafe archive {archive.name}: {kind} {member.name!r}")


def _zip_mode(info: zipfile.ZipInfo) -> int:
    # Unix mode bits live in the high 16 bits when the zip was made on a Unix-like system.
    return (info.external_attr >> 16) & 0xFFFF


def _extract_zip(archive: Path, dest: Path, limits: SourceLimits) -> None:
    budget = Budget(limits, archive.name, archive.stat().st_size)
    dest_resolved = dest.resolve()
    seen: set[PurePosixPath] = set()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"not a valid zip archive: {archive.name} ({exc})") from exc
    with zf:
        for info in zf.infolist():
            name = info.filename
            if name.startswith(_ZIP_JUNK_PREFIX):
                continue
            rel = _safe_member_path(name, archive)
            if str(rel) == ".":
                continue
            target = (dest / rel).resolve()
            if not target.is_relative_to(dest_resolved):
                raise SourceError(f"unsafe archive {archive.name}: {name!r} escapes the tree")
            mode = _zip_mode(info)
            if stat.S_ISLNK(mode):
                raise SourceError(f"unsafe archive {archive.name}: symlink entry {name!r}")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise SourceError(f"unsafe archive {archive.name}: special file {name!r}")
            if info.flag_bits & 0x1:
                raise SourceError(f"unsupported archive {archive.name}: {name!r} is encrypted")
            if rel in seen:
                raise SourceError(f"unsafe archive {archive.name}: duplicate entry {name!r}")
            seen.add(rel)
            try:
                if info.is_dir():
                    budget.add_dir(name)
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                budget.add_file(name)
                # Declared sizes give a cheap early refusal; the streamed count is the real check.
                if info.file_size > limits.max_file_bytes:
                    raise SourceError(
                        f"{archive.name}: file {name!r} is larger than "
                        f"max_file_bytes={limits.max_file_bytes} (declared {info.file_size})"
                    )
                budget.check_ratio(name, info.file_size, info.compress_size)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as member:
                    copy_stream(member.read, target, name, budget, info.compress_size)
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                raise SourceError(
                    f"unsafe archive {archive.name}: entry {name!r} conflicts with another entry"
                ) from exc
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as exc:
                # EOFError carries no message: name the type so the reason is never blank.
                raise SourceError(
                    f"corrupt or unsupported zip entry {name!r} in {archive.name}: "
                    f"{type(exc).__name__} {exc}".rstrip()
                ) from exc


def _single_top_dir(dest: Path) -> Path:
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest
