"""Content paths: which files of the repository feed a site (repository-relative, `/`
separated; a leading `/` or `./` is ignored):

- a plain path (no `*`, `?` or `[`) is a folder or a file: `docs` and `docs/` match `docs`
  and everything below it (`docs/a.md`, `docs/x/y.md`), never `docs2/a.md`;
- a path with `*`, `?` or `[...]` is a glob over the whole path: `*` and `?` stay inside one
  segment, `**` crosses `/` (`**/` also matches no folder at all, so `docs/**/*.md` matches
  `docs/a.md`), `[abc]`, `[a-z]` and `[!a]` are character classes. `content/*` matches
  `content/a.md` but not `content/x/a.md`: write `content/**` for everything below.

Matching is case-sensitive, as git paths are. No content paths means every path counts.

`valid_content_path` refuses what cannot be one (empty, control characters, `..`, Windows
absolute paths or `\\`, over `MAX_CONTENT_PATH_CHARS`, the whole repository, a bad glob).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence

__all__ = ["MAX_CONTENT_PATH_CHARS", "touches", "valid_content_path"]

MAX_CONTENT_PATH_CHARS = 512
_GLOB_CHARS = frozenset("*?[")
_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]|\\\\")


def touches(changed: Iterable[str], content_paths: Sequence[str]) -> list[str]:
    """The changed paths (sorted) that fall under any of `content_paths`; all of them when
    `content_paths` is empty."""
    paths = sorted(set(changed))
    if not content_paths:
        return paths
    matchers = [_matcher(p) for p in content_paths]
    return [path for path in paths if any(m(_strip_lead(path)) for m in matchers)]


def _strip_lead(path: str) -> str:
    while path.startswith(("./", "/")):
        path = path[2:] if path.startswith("./") else path[1:]
    return path


def _normalise(content_path: str) -> str:
    """`content_path` without leading `/` or `./`, `.` segments, doubled or trailing `/`."""
    segments = [s for s in _strip_lead(content_path.strip()).split("/") if s and s != "."]
    return "/".join(segments)


@functools.lru_cache(maxsize=1024)
def _matcher(content_path: str) -> Callable[[str], object]:
    pattern = _normalise(content_path)
    if not pattern:
        return lambda path: True
    if _GLOB_CHARS.isdisjoint(pattern):
        return lambda path: path == pattern or path.startswith(pattern + "/")
    try:
        regex = re.compile(_glob_regex(pattern), re.DOTALL)
    except re.error:
        regex = re.compile(re.escape(pattern))  # e.g. a reversed range: match it literally
    return regex.fullmatch


def _glob_regex(pattern: str) -> str:
    """A regex for the glob `pattern`: `*`/`?` within a segment, `**` across them."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**", i):
            at_segment_start = i == 0 or pattern[i - 1] == "/"
            while pattern.startswith("***", i):
                i += 1  # "***" is "**"
            if at_segment_start and pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
            else:
                out.append(".*")
                i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := _class_end(pattern, i)) > 0:
            out.append(_class(pattern[i + 1 : end]))
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    """The index of the `]` closing the class opened at `start`, or -1 (a literal `[`)."""
    j = start + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1  # a leading "]" is a member
    return pattern.find("]", j)


def _class(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    members = "".join("\\" + ch if ch in "\\[]^&~|" else ch for ch in body)
    # A class never matches "/": a glob's classes stay inside one segment.
    return f"[^/{members}]" if negate else f"(?!/)[{members}]"


def valid_content_path(path: str) -> str | None:
    """None when `path` is a usable content path, else why not (a sentence for a 400)."""
    if not isinstance(path, str):
        return "a content path must be a string"
    if not path.strip():
        return "a content path must not be empty"
    if len(path) > MAX_CONTENT_PATH_CHARS:
        return f"a content path has at most {MAX_CONTENT_PATH_CHARS} characters"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return f"content path {path[:60]!r} contains a control character"
    if _WINDOWS_ABSOLUTE.match(path):
        return f"content path {path!r} is an absolute Windows path; give one inside the repository"
    if "\\" in path:
        return f"content path {path!r} contains '\\'; separate folders with '/'"
    if ".." in path.split("/"):
        return f"content path {path!r} must not contain '..'"
    pattern = _normalise(path)
    if not pattern:
        return f"content path {path!r} names the whole repository; leave content paths empty"
    if not _GLOB_CHARS.isdisjoint(pattern):
        try:
            re.compile(_glob_regex(pattern))
        except re.error as exc:
            return f"content path {path!r} is not a valid glob ({exc.msg})"
    return None
