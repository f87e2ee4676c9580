"""Local sources: a plain path or `file://` URL, the policy that decides whether a job may
read it, and copying (or extracting) it into the job's tree.

`LOCAL_SOURCES` (resolved by `Settings.resolved_local_sources`) decides which local sources a
job may read:

- `any`: with `SOURCE_ROOTS` set, a local source (directory, archive or git repository) is
  accepted only when its fully resolved path (symlinks followed, `..` collapsed) lies inside
  one of the roots; with none set, any local path (development);
- `roots`: only under `SOURCE_ROOTS`, and with none set no local source at all (the default
  once `API_TOKENS` is set: whoever holds a token must not read the worker's disk);
- `off`: no local source.

Copying a directory: symlinks are never materialized (one pointing outside the tree would
leak host files, one pointing inside only duplicates content already copied), and `.git`,
`.hg`, `.svn` are left behind. A regular file with more than one link (st_nlink > 1) is left
out and reported to the caller's `problems` list (a per-file error, the job goes on): a hard
link is indistinguishable from its target, so a link placed in a local source could publish
any file on the worker's filesystem; a checkout never contains one. Archives are extracted by
pressroom.sources.archive. Remote fetchers materialize what they download with the same code.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pressroom.models import PostError
from pressroom.security.redact import redact_url
from pressroom.sources.archive import extract_archive
from pressroom.sources.errors import SourceError
from pressroom.sources.tree import (
    Budget,
    SourceLimits,
    copy_stream,
    has_markdown,
    printable_path,
)

__all__ = ["LocalSources", "allowed_local", "local_path", "materialize_local", "under_roots"]

LocalSources = Literal["any", "roots", "off"]
_VCS_DIRS = frozenset({".git", ".hg", ".svn"})


def local_path(repo_url: str) -> Path:
    """The filesystem path a plain path or `file://` URL names (not yet checked)."""
    if not repo_url.lower().startswith("file:"):
        return Path(repo_url).expanduser()
    parts = urlsplit(repo_url)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(
            f"file:// URL must name a local path, got host {parts.netloc!r} "
            f"in {redact_url(repo_url)!r}"
        )
    return Path(unquote(parts.path))


def under_roots(path: Path, roots: Sequence[Path]) -> Path:
    """`path` fully resolved; SourceError if roots are configured and it is outside all of them.

    Resolving first means a symlink inside a root that points outside is judged by its target.
    """
    if "\x00" in str(path):
        raise SourceError("local source path contains NUL")
    resolved = path.resolve()
    if roots and not any(resolved.is_relative_to(root.resolve()) for root in roots):
        raise SourceError(
            f"local source {str(path)!r} is outside the allowed source roots (SOURCE_ROOTS)"
        )
    return resolved


def allowed_local(path: Path, roots: Sequence[Path], mode: LocalSources) -> Path:
    """`path` fully resolved if the LOCAL_SOURCES policy `mode` accepts it, else SourceError
    saying which setting refused it."""
    if mode == "off":
        raise SourceError(
            f"local source {str(path)!r} refused: local sources are off (LOCAL_SOURCES=off); "
            "send an https archive, git or s3:// URL"
        )
    if mode == "roots" and not roots:
        raise SourceError(
            f"local source {str(path)!r} refused: LOCAL_SOURCES=roots (the default when "
            "API_TOKENS is set) reads local paths only under SOURCE_ROOTS, and none is set"
        )
    return under_roots(path, roots)


def materialize_local(
    src: Path, dest: Path, limits: SourceLimits, *, problems: list[PostError] | None = None
) -> Path:
    """Copy the directory (or extract the archive) `src` into `dest` (created here) and
    return the tree's root (see `archive.extract_archive`).

    Raises SourceError for bad input; on failure `dest` is removed again. Files left out one
    by one (hard links in a directory) are appended to `problems` with the reason.
    """
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        # A caller bug, not bad input: use a fresh directory per attempt.
        raise FileExistsError(f"destination {dest} exists and is not an empty directory")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if not src.exists():
            raise SourceError(f"source not found: {src}")
        if src.is_dir():
            _copy_tree(src, dest, limits, problems if problems is not None else [])
            root = dest
        else:
            root = extract_archive(src, dest, limits)
        if not has_markdown(root):
            raise SourceError(
                f"no Markdown posts found in {str(src)!r} (no .md or .markdown files)"
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


def _copy_tree(src: Path, dest: Path, limits: SourceLimits, problems: list[PostError]) -> None:
    src = src.resolve()
    dest_resolved = dest.resolve()
    budget = Budget(limits, str(src))

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
                copy_stream(fh.read, dest / rel_dir / f, rel, budget)
