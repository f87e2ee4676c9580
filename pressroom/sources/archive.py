"""Fetching a job's source into a local tree, safely, and fingerprinting that tree.

Owns: turning a `repoUrl` into a directory on disk (local directory, `file://` URL, or a local
`.tar`/`.tar.gz`/`.tgz`/`.zip` archive), the safety checks that go with it (path traversal, links,
device files, size/count limits, decompression bombs), listing the files of a tree and the
content-derived revision id.

Symlink policy: symlinks are never materialized. When copying a local directory every symlink is
skipped (one pointing outside the tree would leak host files, one pointing inside only duplicates
content already copied). In archives a link whose target leaves the tree makes the whole archive
unsafe (SourceError); a symlink inside the tree is skipped; a hard link inside the tree is
extracted as a copy of its target (it carries real content).

Hard-link policy for directories: a regular file with more than one link (st_nlink > 1) is
left out and reported to the caller's `problems` list (a per-file error, the job goes on). A
hard link is indistinguishable from its target, so a link placed in a local source could
publish any file on the worker's filesystem; a checkout never contains one.

File names: a name that is not valid UTF-8 cannot travel in JSON, Postgres or workflow
history. `printable_path` gives its printable form (undecodable bytes as `\\xNN`) and
`is_utf8_path` tells them apart; the fetch step reports such files and leaves them out.

This module reads local sources only. Remote sources (http(s) archives, git, s3) and the
source policy (allowed roots, buckets, network guard) live in `pressroom.fetchers`, which
downloads into a staging directory and then materializes it with `materialize_source`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pressroom.models import PostError

__all__ = [
    "SourceError",
    "SourceFile",
    "SourceLimits",
    "compute_revision_id",
    "is_utf8_path",
    "list_source_files",
    "materialize_source",
    "printable_path",
    "redact_url",
]

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
_VCS_DIRS = frozenset({".git", ".hg", ".svn"})
_CHUNK = 64 * 1024
# Honest text compresses well (a file of spaces can exceed any ratio), so the ratio guard only
# applies once an archive or member has produced this much data: bombs are large by definition.
_RATIO_FLOOR_BYTES = 1024 * 1024
# Junk that macOS adds to zip files; never part of the site.
_ZIP_JUNK_PREFIX = "__MACOSX/"
_SENSITIVE_QUERY = re.compile(
    r"token|key|secret|signature|sig|password|passwd|credential|auth", re.IGNORECASE
)


class SourceError(ValueError):
    """The source is invalid, unsupported, unsafe or over a limit (bad input: do not retry)."""


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


# --- URLs ---------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """`url` safe to echo: userinfo removed and secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # Unparseable (e.g. a broken IPv6 literal): still drop anything shaped like userinfo.
        return re.sub(r"//[^/@]*@", "//", url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_SENSITIVE_QUERY.search(k) for k, _ in pairs):
        query = urlencode(
            [(k, "REDACTED" if _SENSITIVE_QUERY.search(k) else v) for k, v in pairs], safe="/:"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _scheme_of(repo_url: str) -> str:
    """The fetcher key for `repo_url`: "" for a plain local path, else the lower-case scheme."""
    # scp-like git remotes (git@host:owner/repo.git) carry no scheme but are not local paths.
    if re.match(r"^[\w.-]+@[\w.-]+:", repo_url):
        return "git"
    try:
        scheme = urlsplit(repo_url).scheme.lower()
    except ValueError:
        return ""
    # A one-letter "scheme" is a Windows drive letter, i.e. a local path.
    return "" if len(scheme) == 1 else scheme


# --- entry point ---------------------------------------------------------------------------


Fetcher = Callable[[str, Path, SourceLimits, list[PostError] | None], Path]


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


def materialize_source(
    repo_url: str, dest: Path, limits: SourceLimits, *, problems: list[PostError] | None = None
) -> Path:
    """Copy or extract `repo_url` into `dest` (created here) and return the tree's root.

    An archive with a single top-level directory returns that directory (GitHub-style archives).
    Raises SourceError for bad input; on failure `dest` is removed again. Files left out one
    by one (hard links in a directory) are appended to `problems` with the reason.
    """
    scheme = _scheme_of(repo_url)
    fetcher = _FETCHERS.get(scheme)
    if fetcher is None:
        raise SourceError(
            f"unsupported source {redact_url(repo_url)!r}: scheme {scheme!r} is not a local "
            f"source; remote sources (http(s) archives, git, s3) are fetched by "
            f"pressroom.sources.materialize_source_async"
        )
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        # A caller bug, not bad input: use a fresh directory per attempt.
        raise FileExistsError(f"destination {dest} exists and is not an empty directory")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        root = fetcher(repo_url, dest, limits, problems)
        if not _has_markdown(root):
            raise SourceError(
                f"no Markdown posts found in {redact_url(repo_url)!r} (no .md or .markdown files)"
            )
    except BaseException:
        _discard(dest, created)
        raise
    return root


def _discard(dest: Path, created: bool) -> None:
    """Remove what a failed fetch left behind (the directory itself only if we made it)."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


# --- local paths and file:// ---------------------------------------------------------------


def _local_path(repo_url: str) -> Path:
    if _scheme_of(repo_url) != "file":
        return Path(repo_url).expanduser()
    parts = urlsplit(repo_url)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(
            f"file:// URL must name a local path, got host {parts.netloc!r} "
            f"in {redact_url(repo_url)!r}"
        )
    return Path(unquote(parts.path))


def _fetch_local(
    repo_url: str, dest: Path, limits: SourceLimits, problems: list[PostError] | None = None
) -> Path:
    src = _local_path(repo_url)
    if not src.exists():
        raise SourceError(f"source not found: {src}")
    if src.is_dir():
        _copy_tree(src, dest, limits, problems if problems is not None else [])
        return dest
    name = src.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        _extract_tar(src, dest, limits)
    elif name.endswith(".zip"):
        _extract_zip(src, dest, limits)
    else:
        raise SourceError(
            f"source {src} is neither a directory nor a supported archive "
            f"(.tar.gz, .tgz, .tar, .zip)"
        )
    return _single_top_dir(dest)


class _Budget:
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


def _copy_stream(
    read: Callable[[int], bytes],
    out_path: Path,
    name: str,
    budget: _Budget,
    compressed: int | None = None,
) -> None:
    """Stream into a new file, counting real bytes (headers and stat sizes can lie)."""
    written = 0
    with out_path.open("xb") as out:
        while chunk := read(_CHUNK):
            written += len(chunk)
            budget.add_bytes(name, written, len(chunk))
            if compressed is not None:
                budget.check_ratio(name, written, compressed)
            out.write(chunk)


def _copy_tree(src: Path, dest: Path, limits: SourceLimits, problems: list[PostError]) -> None:
    src = src.resolve()
    dest_resolved = dest.resolve()
    budget = _Budget(limits, str(src))

    def unreadable(err: OSError) -> None:
        # os.walk would silently drop an unreadable directory, and with it posts.
        raise SourceError(f"cannot read {err.filename}: {err.strerror}") from err

    for dirpath, dirnames, filenames in os.walk(src, onerror=unreadable, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(src)
        # os.walk lists symlinked directories in dirnames; pruning them keeps the walk in-tree.
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in _VCS_DIRS
            and not (here / d).is_symlink()
            and (here / d).resolve() != dest_resolved  # dest may live inside src
        )
        for d in dirnames:
            budget.add_dir(str(rel_dir / d))
            (dest / rel_dir / d).mkdir()
        for f in sorted(filenames):
            path = here / f
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode):
                continue  # symlinks (see module docstring), sockets, fifos, devices
            rel = (rel_dir / f).as_posix()
            if st.st_nlink > 1:
                problems.append(
                    PostError(
                        path=printable_path(rel),
                        reason=f"refused: the file has {st.st_nlink} hard links, and a hard "
                        "link in a local source could expose any file on the worker's "
                        "filesystem (copy the file instead of linking it)",
                    )
                )
                continue
            budget.add_file(rel)
            with path.open("rb") as fh:
                _copy_stream(fh.read, dest / rel_dir / f, rel, budget)


# --- archives ------------------------------------------------------------------------------


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
    budget = _Budget(limits, archive.name, archive.stat().st_size)
    sizes: dict[PurePosixPath, int] = {}  # regular members seen so far, for hard links
    try:
        with tarfile.open(archive, mode="r:*") as tf:
            selected: list[tarfile.TarInfo] = []
            # Iterating reads one header at a time, so limits stop us before reading past them.
            for member in tf:
                rel = _safe_member_path(member.name, archive)
                if str(rel) == ".":
                    continue
                if member.isdir():
                    budget.add_dir(member.name)
                    selected.append(member)
                elif member.issparse():
                    # Sparse members expand beyond their stored size.
                    raise SourceError(
                        f"unsupported archive {archive.name}: sparse file {member.name!r}"
                    )
                elif member.isreg():
                    budget.add_file(member.name)
                    budget.add_bytes(member.name, member.size, member.size)
                    sizes[rel] = member.size
                    selected.append(member)
                elif member.issym():
                    if not _link_stays_inside(rel.parent, member.linkname):
                        raise SourceError(
                            f"unsafe archive {archive.name}: symlink {member.name!r} points "
                            f"outside the tree ({member.linkname!r})"
                        )
                    # In-tree symlinks are skipped (module docstring).
                elif member.islnk():
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
                    selected.append(member)
                else:
                    kind = "device file" if (member.ischr() or member.isblk()) else "special file"
                    raise SourceError(f"unsafe archive {archive.name}: {kind} {member.name!r}")
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


def _zip_mode(info: zipfile.ZipInfo) -> int:
    # Unix mode bits live in the high 16 bits when the zip was made on a Unix-like system.
    return (info.external_attr >> 16) & 0xFFFF


def _extract_zip(archive: Path, dest: Path, limits: SourceLimits) -> None:
    budget = _Budget(limits, archive.name, archive.stat().st_size)
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
                    _copy_stream(member.read, target, name, budget, info.compress_size)
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


# --- listing and fingerprinting ------------------------------------------------------------


def _walk_files(root: Path) -> Iterable[tuple[str, Path]]:
    """(repo-relative POSIX path, path) of regular files, skipping hidden dirs and symlinks."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not (here / d).is_symlink()]
        for f in filenames:
            path = here / f
            if stat.S_ISREG(path.lstat().st_mode):
                yield path.relative_to(root).as_posix(), path


def _has_markdown(root: Path) -> bool:
    return any(Path(rel).suffix.lower() in MARKDOWN_SUFFIXES for rel, _ in _walk_files(root))


def list_source_files(root: Path) -> list[SourceFile]:
    """Every regular file under `root`, sorted by path (no `.git/`, hidden dirs or symlinks)."""
    files: list[SourceFile] = []
    for rel, path in _walk_files(root):
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
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


_FETCHERS: dict[str, Fetcher] = {
    "": _fetch_local,
    "file": _fetch_local,
}
