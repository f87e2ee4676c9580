"""What a job's workflow history says about it: step times, size, largest payload, embeddings.

Step times come from the history's own timestamps (activity scheduled -> completed), so they
include queueing on the task queue and exclude the bench's polling.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory

# Activity type -> the step it serves (embed_batch serves two; its input says which).
_STEP_OF = {
    "fetch_source": "fetch",
    "parse_source": "parse",
    "make_thumbnails": "thumbnails",
    "load_database": "load-database",
    "build_artifacts": "build-artifacts",
    "publish_artifacts": "publish",
    "send_callback": "callback",
    "cleanup_work": "cleanup",
}


@dataclass
class HistoryStats:
    events: int
    bytes: int
    largest_payload: int
    activities: int
    # step -> seconds from its first activity scheduled to its last completed
    step_seconds: dict[str, float] = field(default_factory=dict)
    # step -> (first scheduled, last completed) as unix times, to line up with RSS samples
    step_spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    embed_batches: dict[str, int] = field(default_factory=dict)
    embed_inputs: int = 0
    embed_computed: int = 0
    embed_batches_computing: int = 0  # batches that had at least one cache miss


def _payloads(msg: Message) -> list[Payload]:
    """Every Payload nested anywhere in a protobuf message."""
    if isinstance(msg, Payload):
        return [msg]
    found: list[Payload] = []
    for desc, value in msg.ListFields():
        if desc.message_type is None:
            continue
        if isinstance(value, Message):
            values = [value]
        elif desc.message_type.GetOptions().map_entry:
            values = [v for v in value.values() if isinstance(v, Message)]
        else:  # a repeated message field
            values = list(value)
        for v in values:
            found.extend(_payloads(v))
    return found


def _decode(payload: Payload) -> Any:
    try:
        return json.loads(payload.data)
    except ValueError:
        return None


def history_stats(history: WorkflowHistory) -> HistoryStats:
    events = list(history.events)
    size = History(events=events).ByteSize()
    largest = max((p.ByteSize() for e in events for p in _payloads(e)), default=0)
    scheduled: dict[int, tuple[str, float]] = {}
    spans: dict[str, list[float]] = defaultdict(lambda: [float("inf"), 0.0])
    batches: dict[str, int] = defaultdict(int)
    inputs = computed = activities = computing = 0
    for e in events:
        ts = e.event_time.ToDatetime().timestamp()
        if e.HasField("activity_task_scheduled_event_attributes"):
            attrs = e.activity_task_scheduled_event_attributes
            name = attrs.activity_type.name
            step = _STEP_OF.get(name, name.replace("_", "-"))
            if name == "embed_batch":
                arg = _decode(attrs.input.payloads[0]) or {}
                step = "embed-text" if arg.get("kind") == "text" else "embed-images"
                batches[step] += 1
            scheduled[e.event_id] = (step, ts)
            activities += 1
        elif e.HasField("activity_task_completed_event_attributes"):
            attrs = e.activity_task_completed_event_attributes
            step, start = scheduled[attrs.scheduled_event_id]
            span = spans[step]
            span[0], span[1] = min(span[0], start), max(span[1], ts)
            if step.startswith("embed-") and attrs.result.payloads:
                summary = _decode(attrs.result.payloads[0]) or {}
                inputs += int(summary.get("inputs", 0))
                computed += int(summary.get("computed", 0))
                computing += int(summary.get("computed", 0) > 0)
    return HistoryStats(
        events=len(events),
        bytes=size,
        largest_payload=largest,
        activities=activities,
        step_seconds={k: round(v[1] - v[0], 3) for k, v in spans.items()},
        step_spans={k: (v[0], v[1]) for k, v in spans.items()},
        embed_batches=dict(batches),
        embed_inputs=inputs,
        embed_computed=computed,
        embed_batches_computing=computing,
    )
