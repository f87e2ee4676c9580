"""Which revision of a site is "later": the ordering key, and `latest.json` written only forward.

A job's position in a site's history is its request time (`JobInput.requested_at`, recorded
by the API or CLI when the job is accepted; the workflow's start time for jobs started
otherwise), ties broken by job id. Both Postgres (the site's current revision) and the
published `latest.json` carry that key, and neither is ever moved to an earlier one: when two
jobs for one site overlap, the later request wins whatever order they finish in.

`latest.json` is read, compared and written under a Postgres advisory lock (the caller's
transaction), because object stores offer no compare-and-swap that every backend supports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from pressroom.db.locks import advisory_lock
from pressroom.publish.layout import KIND_FULL, PublishRefused, kind_rank
from pressroom.storage.base import StorageError, Store

__all__ = ["RevisionOrder", "iso", "latest_document", "parse_time", "write_latest_if_newer"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value: str | datetime | None) -> datetime | None:
    """An aware datetime from an ISO 8601 string (UTC when it has no offset), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(ts: datetime) -> str:
    """UTC ISO 8601 with microseconds and a `Z`: sorts and round-trips exactly."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, order=True)
class RevisionOrder:
    """A job's place in its site's history: compare with `<`/`>`. A missing request time
    (rows written before ordering existed) sorts before every real one."""

    requested_at: datetime
    job_id: str

    @classmethod
    def of(cls, requested_at: str | datetime | None, job_id: str | None) -> RevisionOrder:
        return cls(parse_time(requested_at) or _EPOCH, job_id or "")

    def describe(self) -> str:
        return f"{iso(self.requested_at)} ({self.job_id})"


def latest_document(
    *,
    site: str,
    revision_id: str,
    published_at: str,
    order: RevisionOrder,
    kind: str = KIND_FULL,
) -> dict[str, Any]:
    """The body of `{distFolder}/latest.json`: it names the site, the revision, what kind of
    revision it is (`full` or `parse`) and its ordering key."""
    return {
        "site": site,
        "revision": revision_id,
        "kind": kind,
        "manifest": f"{revision_id}/manifest.json",
        "publishedAt": published_at,
        "requestedAt": iso(order.requested_at),
        "jobId": order.job_id,
    }


async def read_latest(store: Store, key: str) -> dict[str, Any] | None:
    """The current `latest.json`, or None when there is none (or it is not a JSON object)."""
    if not await store.exists(key):
        return None
    try:
        doc = json.loads(await store.get_bytes(key))
    except (StorageError, ValueError):
        return None  # unreadable pointer: the next writer replaces it
    return doc if isinstance(doc, dict) else None


def latest_lock_name(store: Store, key: str) -> str:
    return f"pressroom.latest:{store.location}/{key}"


async def lock_latest(conn: asyncpg.Connection, store: Store, key: str) -> None:
    """Serialise every writer of this `latest.json` until the caller's transaction ends."""
    await advisory_lock(conn, latest_lock_name(store, key))


async def write_latest_if_newer(
    conn: asyncpg.Connection,
    store: Store,
    key: str,
    doc: dict[str, Any],
    order: RevisionOrder,
    *,
    cache_control: str | None = None,
) -> bool:
    """Write `doc` to `key` unless the `latest.json` there names a later job, or a full
    revision where `doc` names a parse-only one (a parse-only job never hides the site's
    embeddings and database-backed revision).

    Takes the advisory lock itself (in the caller's transaction). Returns whether it wrote.
    An equal key (the same job, retried) rewrites: the retry must be able to finish. A
    pointer that names another site is never replaced (PublishRefused): folders are owned.
    """
    await lock_latest(conn, store, key)
    existing = await read_latest(store, key)
    if existing is not None:
        owner = existing.get("site")
        if owner and owner != doc.get("site"):
            raise PublishRefused(
                f"{key} belongs to site {owner!r}, not {doc.get('site')!r}", owner=str(owner)
            )
        theirs = RevisionOrder.of(existing.get("requestedAt"), existing.get("jobId"))
        if (kind_rank(existing.get("kind")), theirs) > (kind_rank(doc.get("kind")), order):
            return False
    await store.put_bytes(
        key, json.dumps(doc, indent=2).encode(), "application/json", cache_control=cache_control
    )
    return True
