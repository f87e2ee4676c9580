"""Conditional GETs: whether a request's `If-None-Match` matches an answer's `ETag` (then the
answer is a `304`). Shared by the job status and the search routes."""

from __future__ import annotations

__all__ = ["if_none_match"]


def if_none_match(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match, weak comparison: `*`, or any listed tag equal to `etag`."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = (t.strip() for t in header.split(","))
    return any(t.removeprefix("W/") == etag for t in tags)
