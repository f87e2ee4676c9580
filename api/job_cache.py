"""The API process's memory of job answers: a bounded LRU with single-flight refreshes.

`GET /jobs/{jobId}` is polled: by CMSs waiting for a job, by status pages, sometimes by many
clients at once. Each answer is kept with the time its read from Temporal started, and
reused while it is fresh: for `running_ttl` seconds while the job runs, `closed_ttl` once it
has closed. A closed run never changes, so the longer window only bounds how late the API
notices a `temporal workflow reset` (a new run under the same job id); the loader also gets
the stale answer back, to reuse what it read of a closed run. Concurrent requests for one
job share one refresh (single flight), so N pollers cost Temporal one `describe()` per
window, not N.

Bounded in entries and in bytes; the least recently used answers go first. Answers that say
"no such job" are not kept: a job posted a moment later must be found.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Cacheable", "JobCache"]


class Cacheable(Protocol):
    @property
    def closed(self) -> bool: ...

    @property
    def size(self) -> int: ...


A = TypeVar("A", bound=Cacheable)


class JobCache(Generic[A]):
    def __init__(
        self,
        load: Callable[[str, A | None], Awaitable[A | None]],
        *,
        running_ttl: float,
        closed_ttl: float,
        max_entries: int = 4096,
        max_bytes: int = 32 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.running_ttl, self.closed_ttl = running_ttl, closed_ttl
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, A]] = OrderedDict()
        self._bytes = 0
        self._inflight: dict[str, asyncio.Future[A | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    async def get(self, job_id: str) -> A | None:
        """The job's answer: a fresh kept one, or the one a (shared) refresh reads."""
        kept = self._entries.get(job_id)
        if kept is not None:
            read_at, answer = kept
            ttl = self.closed_ttl if answer.closed else self.running_ttl
            if self._clock() - read_at < ttl:
                self._entries.move_to_end(job_id)
                return answer
        flight = self._inflight.get(job_id)
        if flight is None:
            flight = asyncio.ensure_future(self._refresh(job_id, kept[1] if kept else None))
            self._inflight[job_id] = flight
            flight.add_done_callback(lambda done: self._landed(job_id, done))
        # Shielded: a client that hangs up does not cancel the read the others wait on.
        return await asyncio.shield(flight)

    def _landed(self, job_id: str, done: asyncio.Future[A | None]) -> None:
        if self._inflight.get(job_id) is done:
            del self._inflight[job_id]
        if not done.cancelled():
            done.exception()  # retrieved: waiters that left must not leave it unobserved

    async def _refresh(self, job_id: str, stale: A | None) -> A | None:
        started = self._clock()
        answer = await self._load(job_id, stale)
        self._forget(job_id)
        if answer is not None:
            self._keep(job_id, started, answer)
        return answer

    def _forget(self, job_id: str) -> None:
        old = self._entries.pop(job_id, None)
        if old is not None:
            self._bytes -= old[1].size

    def _keep(self, job_id: str, read_at: float, answer: A) -> None:
        if answer.size > self.max_bytes:
            return
        self._entries[job_id] = (read_at, answer)
        self._bytes += answer.size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted.size
