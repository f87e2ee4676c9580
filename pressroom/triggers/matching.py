"""Which registered sites a push concerns (`targets_for`, by repository key) and whether
it calls for a build (`decide`, with a reason sentence either way).

A site builds for a push to its branch (or the repository's default branch) that touches
one of its content paths, or whose changed files are unknown (`Push.changed` None). It does
not build for pings and other events, tags and other refs, other branches, deleted branches,
or pushes that touch none of its content paths. Repository keys (`repository_key`) and the
content-path semantics (`touches`, `valid_content_path`) live in `repositories` and
`content_paths`; they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pressroom.triggers.content_paths import MAX_CONTENT_PATH_CHARS, touches, valid_content_path
from pressroom.triggers.repositories import repository_key

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
