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
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from pressroom.workflows.plans import BAD_INPUT, WORK_EXPIRED
from temporalio import activity
from temporalio.exceptions import ApplicationError

from pressroom.embeddings.base import EmbeddingError
from pressroom.publish.layout import PublishRefused
from pressroom.runtime import faults, metrics
from pressroom.runtime.logs import log_context
from pressroom.sources import SourceError
from pressroom.steps import Progress
from pressroom.steps.retention import WorkExpired
from pressroom.storage.base import StorageError

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
    if isinstance(exc, WorkExpired):
        # A reset past WORK_RETENTION: the step's inputs are gone for good.
        return ApplicationError(str(exc), type=WORK_EXPIRED, non_retryable=True)
    if isinstance(exc, PublishRefused):
        # Where the job asked to publish is not its to write: no retry can change that.
        return ApplicationError(str(exc), type="PublishRefused", non_retryable=True)
    if isinstance(exc, StorageError) and not exc.retryable:
        return ApplicationError(str(exc), type="StorageRejected", non_retryable=True)
    if isinstance(exc, EmbeddingError):
        if not exc.retryable:
            return ApplicationError(str(exc), type="EmbeddingRejected", non_retryable=True)
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(str(exc), type="EmbeddingUnavailable", next_retry_delay=delay)
    return exc


def _pump_interval() -> float:
    # Well inside the heartbeat timeout, so a short timeout (crash drills) never expires
    # while a step is busy between two progress reports.
    timeout = activity.info().heartbeat_timeout
    if timeout is None:
        return HEARTBEAT_EVERY_S
    return max(0.2, min(HEARTBEAT_EVERY_S, timeout.total_seconds() / 3))


@contextlib.asynccontextmanager
async def step_context(
    step: str, hold_step: str | faults.FaultPlan | None = None
) -> AsyncIterator[Progress]:
    """Run one step with timed heartbeats and error classification; yields a Progress sink.

    `hold_step` arms fault injection (`pressroom.faults`) for the step: a step name holds
    the step before it starts, a finer point (e.g. `publish:before-latest`) holds inside it.
    """
    beat = _Beat(step)
    plan = faults.FaultPlan(hold_step) if isinstance(hold_step, str) else hold_step
    every = _pump_interval()

    async def pump() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat(beat.details)

    pumper = asyncio.create_task(pump())
    info = activity.info()
    # Every line logged inside the step (ours, the SDK's, libraries') carries these fields.
    fields = {
        "jobId": info.workflow_id,
        "step": step,
        "attempt": info.attempt,
        "activity": info.activity_type,
    }
    started, outcome = time.monotonic(), "failed"
    try:
        with faults.armed(plan), log_context(**fields):
            if faults.is_armed(step):
                beat.details = {**beat.details, "detail": "held by PRESSROOM_FAULT_HOLD"}
            await faults.fault_point(step)
            yield beat.progress
        outcome = "completed"
    except asyncio.CancelledError:
        # The job was cancelled (seen at a heartbeat) or the worker is shutting down.
        outcome = "cancelled"
        raise
    except Exception as exc:
        mapped = classify(exc)
        if mapped is exc:
            raise
        raise mapped from exc
    finally:
        pumper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumper
        elapsed = time.monotonic() - started
        metrics.step_finished(activity.metric_meter(), step, outcome, timedelta(seconds=elapsed))
        with log_context(**fields):
            log.info("step %s %s after %.3fs", step, outcome, elapsed, extra={"outcome": outcome})
