"""The git hosts whose push webhooks Pressroom reads, and the request headers each one sends.

Gitea and Forgejo share one payload format and one endpoint ("gitea"): Forgejo sends its own
`X-Forgejo-*` headers beside the `X-Gitea-*` ones, so either name is read. Header lookups are
case-insensitive (HTTP field names are); `lower_headers` normalises a plain dict the way an
aiohttp `CIMultiDict` already behaves.

Delivery ids, the job id of a push: GitHub's `X-GitHub-Delivery` stays the same when a
delivery is redelivered. GitLab's `Idempotency-Key` (GitLab 17.4+) stays the same across
retries and "Resend request"; its `X-Gitlab-Event-UUID` is fresh on every request, so it is
only the fallback for older GitLab versions. Gitea/Forgejo send `X-Gitea-Delivery` /
`X-Forgejo-Delivery`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "DELIVERY_HEADERS",
    "EVENT_HEADERS",
    "HOSTS",
    "SIGNATURE_HEADERS",
    "check_host",
    "first_header",
    "lower_headers",
]

HOSTS: tuple[str, ...] = ("github", "gitlab", "gitea")

# Per host, the headers naming the event, in the order they are read.
EVENT_HEADERS: Mapping[str, tuple[str, ...]] = {
    "github": ("X-GitHub-Event",),
    "gitlab": ("X-Gitlab-Event",),
    "gitea": ("X-Gitea-Event", "X-Forgejo-Event"),
}

# Per host, the delivery-id headers, preferred first (the one a redelivery keeps).
DELIVERY_HEADERS: Mapping[str, tuple[str, ...]] = {
    "github": ("X-GitHub-Delivery",),
    "gitlab": ("Idempotency-Key", "X-Gitlab-Event-UUID"),
    "gitea": ("X-Gitea-Delivery", "X-Forgejo-Delivery"),
}

# Per host, the headers carrying the signature (or GitLab's plain token).
SIGNATURE_HEADERS: Mapping[str, tuple[str, ...]] = {
    "github": ("X-Hub-Signature-256",),
    "gitlab": ("X-Gitlab-Token",),
    "gitea": ("X-Gitea-Signature", "X-Forgejo-Signature", "X-Hub-Signature-256"),
}


def check_host(host: str) -> str:
    """`host` when it is one of HOSTS; ValueError otherwise (a programming error: the
    endpoint's path names the host)."""
    if host not in HOSTS:
        raise ValueError(f"unknown git host {host!r}: expected one of {', '.join(HOSTS)}")
    return host


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers keyed by lower-case name. With repeated names (a multidict) the last wins."""
    return {str(name).lower(): value for name, value in headers.items()}


def first_header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    """The value of the first of `names` present in `headers` (already `lower_headers`)."""
    for name in names:
        value = headers.get(name.lower())
        if value is not None:
            return value
    return None
