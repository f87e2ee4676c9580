"""Repository keys: every way of naming a repository becomes one key, `host/path` in lower
case, without scheme, credentials, port, query, `#ref` suffix, `.git` or trailing `/`:
`https://user:tok@GitHub.com/Acme/Blog.git`, `git@github.com:acme/blog.git`,
`ssh://git@github.com:22/acme/blog` all read `github.com/acme/blog`. A leading `www.` is
dropped. GitLab subgroups keep every segment (`gitlab.com/acme/web/blog`). Ports are dropped
so a host's HTTPS and SSH URLs (often on another port) agree. Local repositories read
`file/<path>`: `file:///srv/repos/blog.git` and `/srv/repos/blog` are `file/srv/repos/blog`.
A bare `owner/name` stays `owner/name`. Everything is lower-cased: GitHub, GitLab and Gitea
treat owner and repository names case-insensitively. Nothing is percent-decoded (the hosts'
URLs carry plain names), so a key read again is the same key.

Keys of host-less names (a payload's `full_name`) have no host. A name with no path, no
valid host, or a first segment that would read as `host:path` is a ValueError.
"""

from __future__ import annotations

import re

__all__ = ["repository_key"]

_MAX_NAME_CHARS = 2048
_SCP = re.compile(r"(?:[^@/:]+@)?([^@/:\[\]]+):(.*)")
_HOST = re.compile(r"[a-z0-9_][a-z0-9._-]*|\[[0-9a-f:.]+\]")


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
    segments = [s for s in (s.strip() for s in path.split("/")) if s and s != "."]
    if host:
        host = host.strip().lower().rstrip(".").removeprefix("www.")
        if not _HOST.fullmatch(host):
            raise ValueError(f"{url_or_name[:80]!r} names no valid host")
    elif "://" in text or (
        segments and ":" in segments[0] and not _HOST.fullmatch(segments[0].lower())
    ):
        # "https:///x", or a first segment that would read as host:path next time.
        raise ValueError(f"{url_or_name[:80]!r} is neither a URL, host:path nor a path")
    while segments and segments[-1].lower().endswith(".git"):
        segments[-1] = segments[-1][: -len(".git")]
        if not segments[-1]:
            segments.pop()  # "repo/.git"
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
