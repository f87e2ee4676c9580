"""Work-store retention: a finished job's work store stays for `WORK_RETENTION`, so
`temporal workflow reset` can re-run any of its steps, and the janitor purges it after.

When a job ends, `finish_work` writes the marker `_work/{jobId}/finished.json` (`jobId`,
`status`, `finishedAt`, `retention`), or with no retention deletes a completed or cancelled
job's work store at once. The janitor, `purge_expired`, walks the job folders: a folder whose
marker is past its window is emptied down to the tombstone `purged.json` (`jobId`,
`purgedAt`, `finishedAt`, `retention`); a folder without a marker belongs to a running job
(or to one that failed before markers existed) and is left alone, and so is a marked folder
whose job runs again (a reset). `refuse_purged` is what every step checks first, so a reset
past the window fails at once with `WorkExpired`, naming the window.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pressroom.durations import format_duration, parse_duration
from pressroom.publish.latest import iso, parse_time
from pressroom.steps import Progress, no_progress
from pressroom.storage.base import Store
from pressroom.storage.workstore import FINISHED_NAME, PURGED_NAME, WORK_ROOT, WorkKeys

__all__ = [
    "Finished",
    "PurgeCounts",
    "Purged",
    "WorkExpired",
    "finish_work",
    "purge_expired",
    "refuse_purged",
]

# Whether a job's workflow is running now (a reset makes a finished job run again).
IsRunning = Callable[[str], Awaitable[bool]]


class WorkExpired(Exception):
    """The job's work store was purged: none of its steps can run again."""


def _time(value: object) -> datetime:
    parsed = parse_time(value if isinstance(value, str) else None)
    if parsed is None:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    return parsed


def _json(fields: dict[str, str]) -> bytes:
    return json.dumps(fields, indent=2).encode() + b"\n"


@dataclass(frozen=True)
class Finished:
    """The marker of a finished job whose work store is kept."""

    job_id: str
    status: str
    finished_at: datetime
    retention: timedelta

    def to_json(self) -> bytes:
        return _json(
            {
                "jobId": self.job_id,
                "status": self.status,
                "finishedAt": iso(self.finished_at),
                "retention": format_duration(self.retention),
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Finished:
        doc = json.loads(data)
        return cls(
            job_id=str(doc["jobId"]),
            status=str(doc.get("status", "")),
            finished_at=_time(doc["finishedAt"]),
            retention=parse_duration(str(doc["retention"])),
        )


@dataclass(frozen=True)
class Purged:
    """The tombstone of a purged work store: when, and under which window."""

    job_id: str
    purged_at: datetime
    finished_at: datetime
    retention: timedelta

    def to_json(self) -> bytes:
        return _json(
            {
                "jobId": self.job_id,
                "purgedAt": iso(self.purged_at),
                "finishedAt": iso(self.finished_at),
                "retention": format_duration(self.retention),
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Purged:
        doc = json.loads(data)
        return cls(
            job_id=str(doc["jobId"]),
            purged_at=_time(doc["purgedAt"]),
            finished_at=_time(doc["finishedAt"]),
            retention=parse_duration(str(doc["retention"])),
        )

    def reason(self) -> str:
        return (
            f"job {self.job_id}'s work store was purged at {iso(self.purged_at)}: finished "
            f"jobs keep it for WORK_RETENTION={format_duration(self.retention)}; start a new "
            "job instead of resetting this one"
        )


@dataclass
class PurgeCounts:
    """What one janitor run found, folder by folder."""

    purged: int = 0  # past the window: emptied, the tombstone left
    kept: int = 0  # finished, still inside the window
    running: int = 0  # past the window, but the job runs again (a reset): left alone
    unmarked: int = 0  # no marker: a running job, or one failed before markers existed
    tombstones: int = 0  # purged by an earlier run

    @property
    def folders(self) -> int:
        return self.purged + self.kept + self.running + self.unmarked + self.tombstones


async def finish_work(
    store: Store, job_id: str, *, status: str, now: datetime, retention: timedelta
) -> int:
    """At the end of a job: mark its work store finished, or with no retention delete it (a
    failed job's is always marked: it is what a reset of it needs). Returns the objects
    deleted. A purged work store (the end of a reset past the window) keeps its tombstone."""
    keys = WorkKeys(job_id)
    if await store.exists(keys.purged):
        return 0
    if retention <= timedelta(0) and status != "failed":
        return await store.delete_prefix(keys.prefix)
    marker = Finished(job_id=job_id, status=status, finished_at=now, retention=retention)
    await store.put_bytes(keys.finished, marker.to_json(), "application/json")
    return 0


async def refuse_purged(store: Store, keys: WorkKeys) -> None:
    """Raise WorkExpired when the janitor purged this work store: one existence check."""
    if await store.exists(keys.purged):
        tombstone = Purged.from_json(await store.get_bytes(keys.purged))
        raise WorkExpired(tombstone.reason())


async def purge_expired(
    store: Store,
    *,
    now: datetime,
    retention: timedelta,
    is_running: IsRunning,
    progress: Progress = no_progress,
) -> PurgeCounts:
    """Purge every finished work store past its window; one listing per job folder.

    A job's window is the shorter of the retention it finished under and `retention` (the
    current setting): lowering WORK_RETENTION frees space at the next run, and a job is never
    kept longer than it was told when it finished.
    """
    counts = PurgeCounts()
    async for child in store.iter_children(WORK_ROOT):
        if not child.endswith("/"):
            continue  # a stray object, not a job's folder
        job_id = child.rstrip("/")
        keys = WorkKeys(job_id)
        names = {name async for name in store.iter_children(keys.prefix)}
        if PURGED_NAME in names:
            if names - {PURGED_NAME}:  # a purge cut short after its tombstone: finish it
                await store.delete_prefix(keys.prefix, keep={keys.purged})
            counts.tombstones += 1
        elif FINISHED_NAME not in names:
            counts.unmarked += 1
        elif (marker := await read_marker(store, keys)) is None:
            counts.unmarked += 1  # unreadable: left for an operator rather than guessed at
        else:
            window = min(marker.retention, retention)
            if now - marker.finished_at < window:
                counts.kept += 1
            elif await is_running(job_id):
                counts.running += 1
            else:
                await purge(store, job_id, marker, window, now)
                counts.purged += 1
        progress(counts.folders, 0, f"{counts.purged} purged")
    return counts


async def read_marker(store: Store, keys: WorkKeys) -> Finished | None:
    try:
        return Finished.from_json(await store.get_bytes(keys.finished))
    except (ValueError, KeyError, TypeError):
        return None


async def purge(
    store: Store, job_id: str, marker: Finished, window: timedelta, now: datetime
) -> None:
    """The tombstone first, then everything else: a purge cut short is finished by the next
    run, and a step starting meanwhile already sees why it cannot run."""
    keys = WorkKeys(job_id)
    tombstone = Purged(
        job_id=job_id, purged_at=now, finished_at=marker.finished_at, retention=window
    )
    await store.put_bytes(keys.purged, tombstone.to_json(), "application/json")
    await store.delete_prefix(keys.prefix, keep={keys.purged})
