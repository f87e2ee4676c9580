"""Local sources under a policy: plain paths and `file://` URLs must resolve under a root.

With `SOURCE_ROOTS` set, a local source (directory, archive or git repository) is accepted only
when its fully resolved path (symlinks followed, `..` collapsed) lies inside one of the roots;
with none set, any local path is accepted (development default).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pressroom.sources import SourceError, redact_url


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
