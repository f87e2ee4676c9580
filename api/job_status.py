"""`GET /jobs/{jobId}` as HTTP: answers kept in the job cache, `ETag`, `Cache-Control`, `304`.

A job's answer is read from one `describe()` (`jobs.read_job`: the workflow's progress memo,
no worker) and kept by `job_cache.JobCache`: reused for `RUNNING_TTL` seconds while the job
runs and `CLOSED_TTL` seconds once it has closed, concurrent requests sharing one read. The
serialized body and its ETag are kept with it, so a cached answer costs no JSON encoding.

Running (and pending) jobs are sent `Cache-Control: no-cache`: a client may keep the body but
must ask again, and gets `304 Not Modified` while the ETag still matches. A closed job is
`private, max-age=CLOSED_TTL`: its run is final, and the bound is how late a client notices a
`temporal workflow reset` starting a new run under the same job id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pressroom.api.etags import if_none_match
from pressroom.api.job_cache import JobCache
from pressroom.api.jobs import JobRead, read_job
from temporalio.client import Client

# How long a kept answer is reused: a running job's by every poller within half a second
# (progress moves at step boundaries, seconds apart); a closed one for ten seconds.
RUNNING_TTL = 0.5
CLOSED_TTL = 10.0
MAX_ENTRIES = 4096
MAX_BYTES = 32 * 1024 * 1024

RUNNING_CACHE_CONTROL = "no-cache"
CLOSED_CACHE_CONTROL = f"private, max-age={int(CLOSED_TTL)}"


@dataclass(frozen=True)
class JobAnswer:
    """One job's `200` answer, ready to send."""

    read: JobRead
    body: bytes
    etag: str

    @property
    def closed(self) -> bool:
        return self.read.closed

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def cache_control(self) -> str:
        return CLOSED_CACHE_CONTROL if self.closed else RUNNING_CACHE_CONTROL


def answer_of(read: JobRead, extra: dict[str, Any]) -> JobAnswer:
    body = json.dumps({**read.view, **extra}).encode()
    return JobAnswer(read, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def job_answers(
    client: Client,
    extra_for: Callable[[str], dict[str, Any]],
    *,
    running_ttl: float = RUNNING_TTL,
    closed_ttl: float = CLOSED_TTL,
) -> JobCache[JobAnswer]:
    """The cache of job answers; `extra_for(job_id)` adds fields (the Temporal UI link)."""

    async def load(job_id: str, stale: JobAnswer | None) -> JobAnswer | None:
        read = await read_job(client, job_id, stale.read if stale is not None else None)
        if read is None:
            return None
        if stale is not None and read is stale.read:
            return stale  # the same closed run: the same bytes
        return answer_of(read, extra_for(job_id))

    return JobCache(
        load,
        running_ttl=running_ttl,
        closed_ttl=closed_ttl,
        max_entries=MAX_ENTRIES,
        max_bytes=MAX_BYTES,
    )


def respond(request: web.Request, answer: JobAnswer) -> web.Response:
    headers = {"ETag": answer.etag, "Cache-Control": answer.cache_control}
    if if_none_match(request.headers.get("If-None-Match"), answer.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=answer.body, content_type="application/json", headers=headers)
