"""Local sources under a policy: plain paths and `file://` URLs must resolve under a root.

`LOCAL_SOURCES` (resolved by `Settings.resolved_local_sources`) decides which local sources a
job may read:

- `any`: with `SOURCE_ROOTS` set, a local source (directory, archive or git repository) is
  accepted only when its fully resolved path (symlinks followed, `..` collapsed) lies inside
  one of the roots; with none set, any local path (development);
- `roots`: only under `SOURCE_ROOTS`, and with none set no local source at all (the default
  once `API_TOKENS` is set: whoever holds a token must not read the worker's disk);
- `off`: no local source.

Inside an accepted directory, files with more than one hard link are left out
(pressroom.sources): a hard link can name any file on the same filesystem.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pressroom.sources.archive import SourceError, redact_url

LocalSources = Literal["any", "roots", "off"]


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
