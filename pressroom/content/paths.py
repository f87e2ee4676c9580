"""Paths inside a source tree: which file an image source names (`resolve_image`), whether a
link stays on the site (`is_internal`), and which of several files claiming one name is kept
(`keep_first`, for post ids and media paths alike).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote

from pressroom.content.template_syntax import expand_templates
from pressroom.models import PostError

__all__ = ["is_internal", "keep_first", "resolve_image"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def keep_first(
    paths: Iterable[str], key: Callable[[str], str | None], reason: Callable[[str, str], str]
) -> tuple[list[str], list[PostError]]:
    """The paths to keep, and a per-file error for each path whose `key` an earlier path (in
    sorted order, so the outcome never depends on listing order) already claimed.

    `key(path)` None keeps the path unjudged; `reason(key, first)` says why a later one is
    left out, naming the file that keeps the name.
    """
    owners: dict[str, str] = {}
    kept: list[str] = []
    errors: list[PostError] = []
    for path in sorted(paths):
        name = key(path)
        if name is None:
            kept.append(path)
            continue
        first = owners.setdefault(name, path)
        if first == path:
            kept.append(path)
        else:
            errors.append(PostError(path=path, reason=reason(name, first)))
    return kept, errors


def is_internal(url: str) -> bool:
    """True for a link to the site itself: no scheme, not protocol-relative, no template."""
    return not (_SCHEME.match(url) or url.startswith(("//", "{{")))


def resolve_image(
    src: str, post_path: str, known_files: frozenset[str] = frozenset()
) -> str | None:
    """The repo-relative path an image source points at, or None if it is not local.

    Relative sources resolve against the post's directory. Root-relative ones (`/img/a.png`)
    resolve against the repo root or, when the file is not there, the first ancestor
    directory of the post (or its `static/`, as Hugo serves it) holding the file; when
    none does, the repo-root reading is returned. Query, fragment and %-escapes are
    removed; Liquid base-URL prefixes are resolved first.
    """
    src = src.strip()
    if "{" in src:
        src = expand_templates(src).strip()
    if not src or src.startswith("//") or _SCHEME.match(src) or "{{" in src or "{%" in src:
        return None
    src = unquote(src.split("#", 1)[0].split("?", 1)[0])
    if not src.strip("/"):
        return None
    post_dir = posixpath.dirname(post_path.replace("\\", "/").strip("/"))
    if not src.startswith("/"):
        return _inside_repo(posixpath.join(post_dir, src))
    rel = _inside_repo(src.lstrip("/"))
    if rel is None:
        return None
    parts = post_dir.split("/") if post_dir else []
    for depth in range(len(parts) + 1):
        base = "/".join(parts[:depth])
        for candidate in (f"{base}/{rel}", f"{base}/static/{rel}"):
            candidate = candidate.lstrip("/")
            if candidate in known_files:
                return candidate
    return rel


def _inside_repo(path: str) -> str | None:
    normal = posixpath.normpath(path)
    if normal in (".", "..") or normal.startswith(("../", "/")):
        return None
    return normal
