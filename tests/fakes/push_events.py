"""Git hosts' push webhooks as they arrive: (headers, body) for GitHub, GitLab and
Gitea/Forgejo, built from the fixtures in tests/data/hooks/ and signed with `sign`.

`push_event(host, secret=...)` is a push of one commit touching `changed` to `branch` of
`repository`; every repository URL in the payload (html/clone/ssh URLs, full name, GitLab's
project URLs) is rewritten from `repository`, so a site registered with any spelling of it
matches. A local repository (a path or `file://` URL) is put in verbatim. `changed=None`
makes the commit list incomplete the way the host would: a forced push on GitHub, a
`total_commits_count` / `total_commits` above the commits listed on GitLab / Gitea.
`ref=` overrides `refs/heads/<branch>` (a tag: `refs/tags/v1`; GitLab then sends its "Tag
Push Hook"). `delivery=None` is a fresh UUID, as a host sends for a new event; pass the same
one twice for a redelivery.

`ping_event(secret=...)` is GitHub's ping (GitLab and Gitea send none).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pressroom.triggers.matching import repository_key
from pressroom.triggers.signatures import sign

__all__ = ["ZERO_SHA", "fixture", "ping_event", "push_event", "push_payload", "signed_headers"]

HOOKS = Path(__file__).resolve().parents[1] / "data" / "hooks"
ZERO_SHA = "0" * 40
DEFAULT_REPOSITORY = "https://github.com/acme/blog"
DEFAULT_AFTER = "59b20b8d5c6ff8d09518454d4dd8b7a2f8dd3a1a"
DEFAULT_BEFORE = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
GITLAB_WEBHOOK_UUID = "2d7c6b58-7b42-4d0e-9a2c-3c0f5e1a8b11"
GITHUB_HOOK_ID = "482917331"


def fixture(name: str) -> dict[str, Any]:
    """tests/data/hooks/<name>.json, e.g. `fixture("gitlab-push")`."""
    return json.loads((HOOKS / f"{name}.json").read_text(encoding="utf-8"))


def _names(repository: str) -> dict[str, str]:
    key = repository_key(repository)
    if key.startswith("file/"):
        return dict.fromkeys(("web", "http", "ssh", "git", "api"), repository) | {
            "full_name": key.removeprefix("file/"),
        }
    host, path = key.split("/", 1)
    return {
        "web": f"https://{host}/{path}",
        "http": f"https://{host}/{path}.git",
        "ssh": f"git@{host}:{path}.git",
        "git": f"git://{host}/{path}.git",
        "api": f"https://{host}/api/v1/repos/{path}",
        "full_name": path,
        "instance": f"https://{host}",
    }


def _set_repository(host: str, payload: dict[str, Any], names: Mapping[str, str]) -> None:
    name = names["full_name"].rsplit("/", 1)[-1]
    if host == "gitlab":
        project = payload["project"]
        project.update(
            name=name,
            web_url=names["web"],
            homepage=names["web"],
            git_http_url=names["http"],
            http_url=names["http"],
            git_ssh_url=names["ssh"],
            ssh_url=names["ssh"],
            url=names["ssh"],
            path_with_namespace=names["full_name"],
        )
        payload["repository"].update(
            name=name,
            url=names["ssh"],
            homepage=names["web"],
            git_http_url=names["http"],
            git_ssh_url=names["ssh"],
        )
        return
    repo = payload["repository"]
    repo.update(name=name, full_name=names["full_name"], html_url=names["web"])
    repo.update(clone_url=names["http"], ssh_url=names["ssh"])
    if host == "github":
        repo.update(url=names["web"], git_url=names["git"], svn_url=names["web"])
    else:
        repo.update(url=names["api"])


def push_payload(
    host: str,
    *,
    repository: str = DEFAULT_REPOSITORY,
    branch: str = "main",
    changed: Sequence[str] | None = ("docs/a.md",),
    after: str = DEFAULT_AFTER,
    before: str = DEFAULT_BEFORE,
    ref: str | None = None,
    default_branch: str = "main",
    created: bool = False,
    deleted: bool = False,
    forced: bool = False,
) -> dict[str, Any]:
    """The push payload `host` sends (see the module docstring), as a dict to tamper with."""
    payload = fixture(f"{host}-push")
    _set_repository(host, payload, _names(repository))
    owner = "project" if host == "gitlab" else "repository"
    payload[owner]["default_branch"] = default_branch
    if created:
        before = ZERO_SHA
    if deleted:
        after = ZERO_SHA
    payload.update(ref=ref or f"refs/heads/{branch}", before=before, after=after)
    commit = copy.deepcopy(payload["commits"][0])
    commit.update(id=after, added=[], removed=[], modified=list(changed or ("docs/a.md",)))
    commits = [] if deleted else [commit]
    payload["commits"] = commits
    if host == "github":
        payload.update(created=created, deleted=deleted, forced=forced or changed is None)
        payload["head_commit"] = commit if commits else None
        payload["compare"] = f"{_names(repository)['web']}/compare/{before[:12]}...{after[:12]}"
    elif host == "gitlab":
        payload["total_commits_count"] = len(commits) + (20 if changed is None else 0)
        payload["checkout_sha"] = None if deleted else after
        if payload["ref"].startswith("refs/tags/"):
            payload["object_kind"] = payload["event_name"] = "tag_push"
    else:
        payload["total_commits"] = len(commits) + (20 if changed is None else 0)
        payload["head_commit"] = commit if commits else None
    return payload


def signed_headers(
    host: str,
    body: bytes,
    *,
    secret: str,
    event: str = "push",
    delivery: str | None = None,
    forgejo: bool = False,
) -> dict[str, str]:
    """The headers `host` sends with `body`: event, delivery id and signature."""
    delivery = delivery or str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    if host == "github":
        headers |= {
            "User-Agent": "GitHub-Hookshot/7e0c5bb",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": GITHUB_HOOK_ID,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": "186853002",
        }
    elif host == "gitlab":
        names = {"push": "Push Hook", "tag_push": "Tag Push Hook"}
        headers |= {
            "User-Agent": "GitLab/17.5.0",
            "X-Gitlab-Event": names.get(event, event),
            "X-Gitlab-Instance": "https://gitlab.example.com",
            "X-Gitlab-Webhook-UUID": GITLAB_WEBHOOK_UUID,
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),  # new on every request, resends too
            "Idempotency-Key": delivery,
        }
    else:
        headers["User-Agent"] = "Go-http-client/1.1"
        for prefix in ("X-Gitea", "X-Gogs", "X-GitHub", *(("X-Forgejo",) if forgejo else ())):
            headers |= {
                f"{prefix}-Delivery": delivery,
                f"{prefix}-Event": event,
                f"{prefix}-Event-Type": event,
            }
    signature = sign(host, body, secret)
    if forgejo:
        signature["X-Forgejo-Signature"] = signature["X-Gitea-Signature"]
    return headers | signature


def push_event(
    host: str,
    *,
    secret: str,
    repository: str = DEFAULT_REPOSITORY,
    branch: str = "main",
    changed: Sequence[str] | None = ("docs/a.md",),
    delivery: str | None = None,
    after: str = DEFAULT_AFTER,
    forgejo: bool = False,
    **fields: Any,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a signed push delivery; `fields` go to `push_payload` (`before`,
    `ref`, `default_branch`, `created`, `deleted`, `forced`)."""
    payload = push_payload(
        host, repository=repository, branch=branch, changed=changed, after=after, **fields
    )
    body = json.dumps(payload).encode()
    event = "tag_push" if host == "gitlab" and payload["object_kind"] == "tag_push" else "push"
    headers = signed_headers(
        host, body, secret=secret, event=event, delivery=delivery, forgejo=forgejo
    )
    return headers, body


def ping_event(
    host: str = "github",
    *,
    secret: str,
    repository: str = DEFAULT_REPOSITORY,
    delivery: str | None = None,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of GitHub's signed ping, sent when a webhook is created."""
    if host != "github":
        raise ValueError(f"{host} sends no ping: its 'Test' button sends a push (push_event)")
    payload = fixture("github-ping")
    names = _names(repository)
    repo = payload["repository"]
    repo.update(full_name=names["full_name"], html_url=names["web"], svn_url=names["web"])
    repo.update(clone_url=names["http"], ssh_url=names["ssh"], git_url=names["git"])
    body = json.dumps(payload).encode()
    return signed_headers("github", body, secret=secret, event="ping", delivery=delivery), body
