"""Pressroom's own worker metrics: the catalogue (names, help, labels) and recording helpers.

They are recorded through Temporal's metric meter (the activity's or the workflow's), so the
worker serves them on its one Prometheus endpoint (`METRICS_PORT`) next to the Temporal SDK's
runtime metrics, and a workflow's counters are skipped on replay. No Temporal imports here:
the meter is anything with Temporal's `MetricMeter` shape; without an endpoint it is a no-op.

| metric | type | labels |
|---|---|---|
| `pressroom_jobs_total` | counter | `outcome` (completed, failed, cancelled), `task` |
| `pressroom_step_duration_seconds` | histogram | `step`, `outcome` (completed, failed, cancelled) |
| `pressroom_embedding_inputs_total` | counter | `kind` (text, media), `source` (computed, reused) |
| `pressroom_published_bytes_total` | counter | `task` |
| `pressroom_callback_attempts_total` | counter | `result` (delivered, retry, rejected) |
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

__all__ = [
    "callback_attempt",
    "embedding_inputs",
    "job_finished",
    "published_bytes",
    "step_finished",
]


class _Counter(Protocol):
    def add(self, value: int, additional_attributes: Any = None) -> None: ...


class _Histogram(Protocol):
    def record(self, value: timedelta, additional_attributes: Any = None) -> None: ...


class Meter(Protocol):
    """The part of `temporalio.common.MetricMeter` used here."""

    def create_counter(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> Any: ...

    def create_histogram_timedelta(
        self, name: str, description: str | None = None, unit: str | None = None
    ) -> Any: ...


# Counter names without `_total`: the exporter adds it (PrometheusConfig counters_total_suffix).
JOBS = "pressroom_jobs"
STEP_DURATION = "pressroom_step_duration_seconds"
EMBEDDING_INPUTS = "pressroom_embedding_inputs"
PUBLISHED_BYTES = "pressroom_published_bytes"
CALLBACK_ATTEMPTS = "pressroom_callback_attempts"


def job_finished(meter: Meter, task: str, outcome: str) -> None:
    counter: _Counter = meter.create_counter(JOBS, "Jobs finished, by outcome and task")
    counter.add(1, {"outcome": outcome, "task": task})


def step_finished(meter: Meter, step: str, outcome: str, elapsed: timedelta) -> None:
    hist: _Histogram = meter.create_histogram_timedelta(
        STEP_DURATION, "Duration of one step attempt (an activity execution)"
    )
    hist.record(elapsed, {"step": step, "outcome": outcome})


def embedding_inputs(meter: Meter, kind: str, computed: int, reused: int) -> None:
    counter: _Counter = meter.create_counter(
        EMBEDDING_INPUTS, "Embedding inputs, computed by the provider or reused from the cache"
    )
    if computed:
        counter.add(computed, {"kind": kind, "source": "computed"})
    if reused:
        counter.add(reused, {"kind": kind, "source": "reused"})


def published_bytes(meter: Meter, task: str, size: int) -> None:
    counter: _Counter = meter.create_counter(PUBLISHED_BYTES, "Artifact bytes published", "By")
    if size > 0:
        counter.add(size, {"task": task})


def callback_attempt(meter: Meter, result: str) -> None:
    counter: _Counter = meter.create_counter(CALLBACK_ATTEMPTS, "Callback delivery attempts")
    counter.add(1, {"result": result})
