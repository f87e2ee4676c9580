"""Which registered sites a push concerns, and whether it calls for a build.

Repository keys. Every way of naming a repository becomes one key, `host/path` in lower
case, without scheme, credentials, port, query, `#ref` suffix, `.git` or trailing `/`:
`https://user:tok@GitHub.com/Acme/Blog.git`, `git@github.com:acme/blog.git`,
`ssh://git@github.com:22/acme/blog` all read `github.com/acme/blog`. A leading `www.` is
dropped. GitLab subgroups keep every segment (`gitlab.com/acme/web/blog`). Ports are dropped
so a host's HTTPS and SSH URLs (often on another port) agree. Local repositories read
`file/<path>`: `file:///srv/repos/blog.git` and `/srv/repos/blog` are `file/srv/repos/blog`.
A bare `owner/name` stays `owner/name`. Everything is lower-cased: GitHub, GitLab and Gitea
treat owner and repository names case-insensitively.

Content paths say which files of the repository feed a site (repository-relative, `/`
separated; a leading `/` or `./` is ignored):

- a plain path (no `*`, `?` or `[`) is a folder or a file: `docs` and `docs/` match `docs`
  and everything below it (`docs/a.md`, `docs/x/y.md`), never `docs2/a.md`;
- a path with `*`, `?` or `[...]` is a glob over the whole path: `*` and `?` stay inside one
  segment, `**` crosses `/` (`**/` also matches no folder at all, so `docs/**/*.md` matches
  `docs/a.md`), `[abc]`, `[a-z]` and `[!a]` are character classes. `content/*` matches
  `content/a.md` but not `content/x/a.md`: write `content/**` for everything below.

Matching is case-sensitive, as git paths are. No content paths means every path counts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from pressroom.triggers.push import Push

__all__ = [
    "MAX_CONTENT_PATH_CHARS",
    "Decision",
    "PushTarget",
    "decide",
    "repository_key",
    "targets_for",
    "touches",
    "valid_content_path",
]

MAX_CONTENT_PATH_CHARS = 512
_MAX_NAME_CHARS = 2048
_GLOB_CHARS = frozenset("*?[")
_SCP = re.compile(r"(?:[^@/:]+@)?([^@/:]+):(.*)")
_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]|\\\\")
_SHOWN_PATHS = 5


@dataclass(frozen=True)
class PushTarget:
    """A site that builds from `repository` (a repository_key) on `branch` (None: the
    repository's default branch, as the payload names it)."""

    site: str
    repository: str
    branch: str | None
    content_paths: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """Whether `site` builds for a push; `reason` is a sentence for logs and the response."""

    site: str
    build: bool
    reason: str


def repository_key(url_or_name: str) -> str:
    """The key of the repository `url_or_name` names (see the module docstring); ValueError
    when it names none."""
    text = url_or_name.strip()
    if not text or len(text) > _MAX_NAME_CHARS:
        raise ValueError("a repository URL or name has 1 to 2048 characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("a repository URL or name has no control characters")
    text = text.split("#", 1)[0]
    host = ""
    if "://" in text:
        scheme, rest = text.split("://", 1)
        netloc, _, path = rest.split("?", 1)[0].partition("/")
        if scheme.lower() == "file":
            host = "file"
            if netloc.lower() not in ("", "localhost"):
                path = f"{netloc}/{path}"
        else:
            host, path = _split_netloc(netloc.rsplit("@", 1)[-1], path)
    elif text.startswith("/"):
        host, path = "file", text
    elif (scp := _SCP.fullmatch(text)) is not None:
        host, path = scp.group(1), scp.group(2)
    else:
        path = text
    host = host.lower().rstrip(".").removeprefix("www.")
    segments = [s for s in unquote(path).split("/") if s and s != "."]
    if segments and segments[-1].lower() == ".git":
        segments.pop()
    if segments and segments[-1].lower().endswith(".git"):
        segments[-1] = segments[-1][: -len(".git")]
    segments = [s for s in segments if s]
    if not segments:
        raise ValueError(f"{url_or_name[:80]!r} names no repository path")
    return "/".join([host, *segments] if host else segments).lower()


def _split_netloc(netloc: str, path: str) -> tuple[str, str]:
    """(host, path) from `host[:port]`; `ssh://git@host:owner/repo` keeps `owner` in the path."""
    if netloc.startswith("["):
        end = netloc.find("]")
        return (netloc[: end + 1], path) if end > 0 else (netloc, path)
    host, _, port = netloc.partition(":")
    if port and not port.isdigit():
        path = f"{port}/{path}"
    return host, path


def targets_for(push: Push, targets: Iterable[PushTarget]) -> list[PushTarget]:
    """The targets whose repository is the pushed one (compared as repository keys)."""
    found = []
    for target in targets:
        try:
            key = repository_key(target.repository)
        except ValueError:
            continue
        if key in push.repositories:
            found.append(target)
    return found


def decide(push: Push, target: PushTarget) -> Decision:
    """Whether `target`'s site builds for `push`, and why (or why not)."""

    def no(reason: str) -> Decision:
        return Decision(site=target.site, build=False, reason=reason)

    def yes(reason: str) -> Decision:
        return Decision(site=target.site, build=True, reason=reason)

    if push.event == "ping":
        return no("ping: the webhook reaches Pressroom; nothing to build")
    if push.event == "tag_push" or (push.ref or "").startswith("refs/tags/"):
        return no(f"tag push ({push.ref}): only branch pushes build")
    if push.event != "push":
        return no(f"{push.event} event: only pushes build")
    try:
        key = repository_key(target.repository)
    except ValueError:
        key = target.repository
    if key not in push.repositories:
        return no(f"push to {', '.join(sorted(push.repositories))}; the site reads {key}")
    if push.branch is None:
        return no(f"push to {push.ref}, which is not a branch")
    wanted = (target.branch or "").removeprefix("refs/heads/") or push.default_branch
    if wanted is None:
        return no(
            f"push to refs/heads/{push.branch}; the site builds the default branch, "
            "which the payload does not name"
        )
    if push.branch != wanted:
        return no(f"push to refs/heads/{push.branch}; the site builds {wanted}")
    if push.deleted:
        return no(f"branch {push.branch} deleted")
    if push.changed is None:
        return yes(f"{push.incomplete or 'commit list incomplete'}: building")
    total = len(push.changed)
    if not target.content_paths:
        return yes(f"{_files(total)} changed; every path counts")
    shown = _show(target.content_paths)
    hits = touches(push.changed, target.content_paths)
    if not hits:
        return no(f"no changed file under {shown} ({_files(total)} changed)")
    return yes(f"{len(hits)} of {total} changed {_plural(total, 'file')} under {shown}")


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _files(count: int) -> str:
    return f"{count:,} {_plural(count, 'file')}"


def _show(content_paths: Sequence[str]) -> str:
    shown = ", ".join(content_paths[:_SHOWN_PATHS])
    more = len(content_paths) - _SHOWN_PATHS
    return f"{shown} and {more} more" if more > 0 else shown


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
