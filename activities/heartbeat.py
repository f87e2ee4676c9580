"""Heartbeats and error classification shared by every activity.

`step_context` wraps a step: it heartbeats the latest progress on a timer (so a step that
spends a while inside one thread hop still looks alive), turns domain errors into Temporal
`ApplicationError`s with the right retry semantics, and holds a step when a fault-injection
setting asks it to (used by the crash tests and by operators rehearsing a failover).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from pressroom.embeddings.base import EmbeddingError
from pressroom.sources import SourceError
from pressroom.steps import Progress
from pressroom.storage import StorageError
from workflows.plans import BAD_INPUT

log = logging.getLogger("pressroom.activities")

HEARTBEAT_EVERY_S = 5.0


class _Beat:
    def __init__(self, step: str) -> None:
        self.details: dict[str, Any] = {"step": step, "done": 0, "total": 0, "detail": ""}

    def progress(self, done: int, total: int, detail: str) -> None:
        self.details = {**self.details, "done": done, "total": total, "detail": detail}
        activity.heartbeat(self.details)


def classify(exc: BaseException) -> BaseException:
    """Map a domain error to the ApplicationError Temporal should see (or leave it as is)."""
    if isinstance(exc, SourceError):
        return ApplicationError(str(exc), type=BAD_INPUT, non_retryable=True)
    if isinstance(exc, StorageError) and not exc.retryable:
        return ApplicationError(str(exc), type="StorageRejected", non_retryable=True)
    if isinstance(exc, EmbeddingError):
        if not exc.retryable:
            return ApplicationError(str(exc), type="EmbeddingRejected", non_retryable=True)
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(str(exc), type="EmbeddingUnavailable", next_retry_delay=delay)
    return exc


async def _hold_forever(beat: _Beat) -> None:
    log.warning("fault injection: holding step %s", beat.details["step"])
    while True:
        beat.progress(0, 0, "held by PRESSROOM_FAULT_HOLD")
        await asyncio.sleep(1)


@contextlib.asynccontextmanager
async def step_context(step: str, hold_step: str | None = None) -> AsyncIterator[Progress]:
    """Run one step with timed heartbeats and error classification; yields a Progress sink."""
    beat = _Beat(step)
    if hold_step == step:
        await _hold_forever(beat)

    async def pump() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            activity.heartbeat(beat.details)

    pumper = asyncio.create_task(pump())
    try:
        yield beat.progress
    except Exception as exc:
        mapped = classify(exc)
        if mapped is exc:
            raise
        raise mapped from exc
    finally:
        pumper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumper
