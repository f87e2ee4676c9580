"""A git host's push webhook, read into a `Push`: which event, which delivery, which
repository, which ref moved to which commit, and which files the pushed commits touched.

Reading is bounded and typed: a body over `MAX_BODY_BYTES` (GitHub's own 25 MB cap), text
that is not a JSON object, or a field of the wrong type is `PayloadRejected` (a ValueError
whose message names the field, for a 400), never another exception.

`Push.changed` is the union of the commits' added/modified/removed paths, or None when the
payload cannot say everything that changed; `Push.incomplete` then says why, and a site
that watches content paths builds anyway. Incomplete means any of:

- the branch is new (nothing says what differs from the last build) or the push was forced
  (commits that left the branch are not listed, yet their files changed back);
- GitLab `total_commits_count` / Gitea `total_commits` exceeds the commits listed (GitLab
  lists 20, Gitea `FEED_MAX_COMMIT_NUM`);
- GitHub's list is at its documented cap of 2048 commits, or one commit lists 3000 files
  (GitHub's per-commit cap);
- a commit has no file lists, or lists a path that is not a string; no commit is listed
  although the ref moved;
- more than `MAX_CHANGED_PATHS` paths.

Paths containing NUL, invalid Unicode or longer than `MAX_PATH_CHARS` are dropped: git has
no such file, so they cannot name content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pressroom.triggers.hosts import (
    DELIVERY_HEADERS,
    EVENT_HEADERS,
    check_host,
    first_header,
    lower_headers,
)
from pressroom.triggers.repositories import repository_key

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CHANGED_PATHS",
    "PayloadRejected",
    "Push",
    "read_event",
]

MAX_BODY_BYTES = 25 * 1024 * 1024
MAX_CHANGED_PATHS = 10_000
MAX_PATH_CHARS = 4096
GITHUB_MAX_COMMITS = 2048
GITHUB_MAX_FILES_PER_COMMIT = 3000
_MAX_REF_CHARS = 1024
_MAX_URL_CHARS = 2048
_FILE_LISTS = ("added", "modified", "removed")
# Events whose payload has the push shape (GitLab reports tag pushes as their own event).
_PUSH_EVENTS = frozenset({"push", "tag_push"})
_EVENT = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_DELIVERY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SHA = re.compile(r"[0-9a-f]{7,64}")
_BRANCH_PREFIX = "refs/heads/"

# Where each host names the repository: (object, field) pairs. Not GitHub's `url` (an API URL
# in most events) nor `homepage` (the project's website), nor Gitea's `original_url` (the
# mirror's source, another repository).
_REPOSITORY_FIELDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "github": tuple(
        ("repository", f) for f in ("html_url", "clone_url", "ssh_url", "git_url", "full_name")
    ),
    "gitlab": tuple(
        ("project", f)
        for f in (
            "web_url",
            "git_http_url",
            "git_ssh_url",
            "http_url",
            "ssh_url",
            "url",
            "homepage",
            "path_with_namespace",
        )
    )
    + tuple(("repository", f) for f in ("url", "homepage", "git_http_url", "git_ssh_url")),
    "gitea": tuple(("repository", f) for f in ("html_url", "clone_url", "ssh_url", "full_name")),
}
_DEFAULT_BRANCH: Mapping[str, tuple[tuple[str, str], ...]] = {
    "github": (("repository", "default_branch"), ("repository", "master_branch")),
    "gitlab": (("project", "default_branch"),),
    "gitea": (("repository", "default_branch"),),
}
_TOTAL_COMMITS = {"gitlab": "total_commits_count", "gitea": "total_commits"}


class PayloadRejected(ValueError):
    """A webhook payload Pressroom cannot read; the message says what, for a 400."""


@dataclass(frozen=True)
class Push:
    """One webhook delivery, read. See the module docstring for `changed` and `incomplete`."""

    host: str  # one of hosts.HOSTS
    event: str  # "push", "ping", "tag_push" (GitLab) or the host's other event, lower-case
    delivery: str | None  # the id a redelivery keeps (see hosts), for the job id
    repositories: frozenset[str]  # repository_key of every URL and name in the payload
    ref: str | None  # "refs/heads/main", "refs/tags/v1"; None for events that are no push
    branch: str | None  # "main" when ref is a branch, else None
    default_branch: str | None
    after: str | None  # the new head commit, lower-case hex; None when the ref was deleted
    deleted: bool
    changed: frozenset[str] | None  # paths the pushed commits touched; None: unknown
    incomplete: str | None = None  # why `changed` is None


def read_event(host: str, headers: Mapping[str, str], body: bytes) -> Push:
    """The delivery `body` with `headers`, as `host` sent it; PayloadRejected when unreadable.

    Safe on an unverified body (bounded, typed), since the repository it names is how the
    site, and so the secret, is found; but everything in it is a claim until
    `signatures.verify` passes with that site's secret.
    """
    check_host(host)
    lowered = lower_headers(headers)
    event = _event(host, lowered)
    delivery = _delivery(host, lowered)
    data = _load(body)
    if host == "gitlab" and event == "system":
        # GitLab system hooks share one header; the body's object_kind names the event.
        kind = _field(data, "object_kind", limit=64) or "system"
        event = _event_name(kind.strip().lower(), "object_kind")
    repositories = _repositories(host, data)
    default_branch = _default_branch(host, data)
    if event not in _PUSH_EVENTS:
        return Push(
            host=host,
            event=event,
            delivery=delivery,
            repositories=repositories,
            ref=None,
            branch=None,
            default_branch=default_branch,
            after=None,
            deleted=False,
            changed=frozenset(),
        )
    if not repositories:
        raise PayloadRejected("the push payload names no repository (repository.html_url, ...)")
    ref = _field(data, "ref", limit=_MAX_REF_CHARS)
    if ref is None:
        raise PayloadRejected("the push payload has no ref")
    before = _sha(data, "before")
    after = _sha(data, "after")
    created = _flag(data, "created") or _is_zero(before)
    deleted = _flag(data, "deleted") or _is_zero(after)
    forced = _flag(data, "forced")
    branch = ref[len(_BRANCH_PREFIX) :] if ref.startswith(_BRANCH_PREFIX) else None
    changed, incomplete = _changed(host, data, before=before, after=after)
    if deleted:
        changed, incomplete = frozenset(), None
    elif created:
        changed, incomplete = None, "new branch" if branch else "new ref"
    elif forced:
        changed, incomplete = None, "forced push"
    return Push(
        host=host,
        event=event,
        delivery=delivery,
        repositories=repositories,
        ref=ref,
        branch=branch or None,
        default_branch=default_branch,
        after=None if _is_zero(after) else after,
        deleted=deleted,
        changed=changed,
        incomplete=incomplete,
    )


def _event(host: str, headers: Mapping[str, str]) -> str:
    names = EVENT_HEADERS[host]
    raw = first_header(headers, names)
    if raw is None:
        raise PayloadRejected(f"missing {names[0]} header")
    text = raw.strip().lower()
    if host == "gitlab":
        # "Push Hook" -> "push", "Tag Push Hook" -> "tag_push", "System Hook" -> "system".
        text = text.removesuffix(" hook").replace(" ", "_")
    return _event_name(text, names[0])


def _event_name(text: str, where: str) -> str:
    if not _EVENT.fullmatch(text):
        raise PayloadRejected(f"{where} is not an event name")
    return text


def _delivery(host: str, headers: Mapping[str, str]) -> str | None:
    for name in DELIVERY_HEADERS[host]:
        value = headers.get(name.lower())
        if value is None or not value.strip():
            continue
        if not _DELIVERY.fullmatch(value.strip()):
            raise PayloadRejected(f"{name} header is not a delivery id")
        return value.strip()
    return None


def _load(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise PayloadRejected(
            f"the body is {len(body):,} bytes, over the {MAX_BODY_BYTES // 2**20} MB limit"
        )
    if body[:8] == b"payload=":
        raise PayloadRejected(
            "the payload is form-encoded: set the webhook's content type to application/json"
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and over-long integers.
        raise PayloadRejected(f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise PayloadRejected(f"the payload must be a JSON object, not {_kind(data)}")
    return data


def _kind(value: object) -> str:
    """What a JSON value is, with its article: "an array", "a string", ..."""
    kinds = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadRejected(f"{name} must be an object, not {_kind(value)}")
    return value


def _field(data: Mapping[str, Any], name: str, *, limit: int = _MAX_URL_CHARS) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadRejected(f"{name} must be a string, not {_kind(value)}")
    if len(value) > limit:
        raise PayloadRejected(f"{name} is longer than {limit} characters")
    return value


def _nested(data: Mapping[str, Any], obj: str, name: str, *, limit: int) -> str | None:
    container = _object(data, obj)
    if container is None:
        return None
    try:
        return _field(container, name, limit=limit)
    except PayloadRejected as exc:
        raise PayloadRejected(f"{obj}.{exc}") from None


def _repositories(host: str, data: Mapping[str, Any]) -> frozenset[str]:
    keys = set()
    for obj, name in _REPOSITORY_FIELDS[host]:
        value = _nested(data, obj, name, limit=_MAX_URL_CHARS)
        if value:
            try:
                keys.add(repository_key(value))
            except ValueError:
                continue  # one unreadable name; the others still identify the repository
    return frozenset(keys)


def _default_branch(host: str, data: Mapping[str, Any]) -> str | None:
    for obj, name in _DEFAULT_BRANCH[host]:
        value = _nested(data, obj, name, limit=_MAX_REF_CHARS)
        if value:
            return value.removeprefix(_BRANCH_PREFIX)
    return None


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PayloadRejected(f"{name} must be a boolean, not {_kind(value)}")
    return value


def _sha(data: Mapping[str, Any], name: str) -> str | None:
    value = _field(data, name, limit=64)
    if value is None:
        return None
    value = value.strip().lower()
    if not _SHA.fullmatch(value):
        raise PayloadRejected(f"{name} is not a commit id")
    return value


def _is_zero(sha: str | None) -> bool:
    return sha is not None and sha.strip("0") == ""


def _count(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadRejected(f"{name} must be a number, not {_kind(value)}")
    return value


def _clean_path(path: str) -> str | None:
    if not path or len(path) > MAX_PATH_CHARS or "\x00" in path:
        return None
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return None  # a lone surrogate from a "\ud800" escape
    return path


def _changed(
    host: str, data: Mapping[str, Any], *, before: str | None, after: str | None
) -> tuple[frozenset[str] | None, str | None]:
    """The paths the listed commits touched, or None and why the list cannot be trusted."""
    commits = data.get("commits")
    if commits is None:
        commits = []
    if not isinstance(commits, list):
        raise PayloadRejected(f"commits must be an array, not {_kind(commits)}")
    total = _count(data, _TOTAL_COMMITS[host]) if host in _TOTAL_COMMITS else None
    paths: set[str] = set()
    reason = None
    for index, commit in enumerate(commits):
        if not isinstance(commit, dict):
            raise PayloadRejected(f"commits[{index}] must be an object, not {_kind(commit)}")
        listed = 0
        for name in _FILE_LISTS:
            items = commit.get(name)
            if items is None:
                reason = reason or "a commit has no file lists"
                continue
            if not isinstance(items, list):
                raise PayloadRejected(
                    f"commits[{index}].{name} must be an array, not {_kind(items)}"
                )
            listed += len(items)
            for item in items:
                if not isinstance(item, str):
                    reason = reason or "a commit lists a path that is not a string"
                    continue
                path = _clean_path(item)
                if path is not None and len(paths) <= MAX_CHANGED_PATHS:
                    paths.add(path)
        if host == "github" and listed >= GITHUB_MAX_FILES_PER_COMMIT:
            reason = reason or f"a commit lists {listed:,} files, GitHub's cap per commit"
    if total is not None and total > len(commits):
        reason = f"commit list incomplete ({len(commits)} of {total} commits listed)"
    elif host == "github" and len(commits) >= GITHUB_MAX_COMMITS:
        reason = f"commit list at GitHub's cap of {GITHUB_MAX_COMMITS} commits"
    elif not commits and before != after:
        reason = "no commit list"
    elif len(paths) > MAX_CHANGED_PATHS:
        reason = f"more than {MAX_CHANGED_PATHS:,} changed paths"
    if reason:
        return None, reason
    return frozenset(paths), None
