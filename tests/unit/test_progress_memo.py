"""The progress memo (workflows/progress_memo.py): what the workflow upserts reads back as the
progress the `progress` query returns, and it upserts only what changed, a running step's
`done` only by tenths."""

from __future__ import annotations

from typing import Any

from pressroom.workflows.progress_memo import (
    DONE_BUCKETS,
    ISSUES,
    MAX_MEMO_TEXT,
    OUTCOME,
    PROGRESS,
    ProgressMemo,
    initial_memo,
    progress_from_memo,
)

from pressroom.models import JobProgress, PostError, StepProgress


def fresh() -> JobProgress:
    return JobProgress(
        job_id="j1", task="process-all", steps=[StepProgress(name=n) for n in ("a", "b")]
    )


def applied(memo: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Temporal's upsert: each key replaced, None removes it."""
    out = {**memo, **changes}
    return {k: v for k, v in out.items() if v is not None}


def test_a_fresh_job_publishes_only_its_progress_and_reads_back_equal() -> None:
    memo = initial_memo("j1", "process-all", ("a", "b"))
    assert set(memo) == {PROGRESS}
    assert progress_from_memo(memo) == fresh()
    assert ProgressMemo(fresh()).changes(fresh()) == {}


def test_a_finished_job_reads_back_as_the_query_returns_it() -> None:
    p = fresh()
    tracker = ProgressMemo(p)
    memo = initial_memo(p.job_id, p.task, ("a", "b"))
    p.state, p.current_step = "running", "a"
    p.steps[0].state = "running"
    memo = applied(memo, tracker.changes(p))
    p.errors = [PostError(path="x.md", reason="bad front matter")]
    p.error_count, p.counts = 3, {"posts": 2}
    p.warnings = [PostError(path="y.md", reason="title cut")]
    p.warning_count = 1
    memo = applied(memo, changes := tracker.changes(p))
    assert set(changes) == {PROGRESS, ISSUES}
    p.state, p.current_step = "completed", None
    for step in p.steps:
        step.state, step.done, step.total = "completed", 1, 1
    p.callback = {"state": "delivered", "status": 204}
    p.result = {
        "task": "process-all",
        "status": "completed",
        "errors": [e.model_dump() for e in p.errors],
        "errorCount": 3,
        "skipped": [],
        "warnings": [w.model_dump() for w in p.warnings],
        "counts": {"posts": 2},
        "callback": p.callback,
    }
    memo = applied(memo, changes := tracker.changes(p))
    assert set(changes) == {PROGRESS, OUTCOME}  # the lists are not sent again
    assert "errors" not in memo[OUTCOME]
    assert progress_from_memo(memo) == p


def test_a_running_step_republishes_its_done_by_tenths() -> None:
    p = fresh()
    tracker = ProgressMemo(p)
    p.state, p.current_step = "running", "a"
    step = p.steps[0]
    step.state, step.total = "running", 100
    sent = [tracker.changes(p)]
    for done in range(1, 100):
        step.done = done
        sent.append(tracker.changes(p))
    step.state, step.done = "completed", 100
    sent.append(tracker.changes(p))
    upserts = [c for c in sent if c]
    assert len(upserts) == DONE_BUCKETS + 1  # started, each tenth, completed
    assert upserts[-1][PROGRESS]["steps"][0]["state"] == "completed"


def test_a_long_failure_is_cut_in_the_memo() -> None:
    p = fresh()
    p.state, p.failure = "failed", "x" * (MAX_MEMO_TEXT * 3)
    p.result = {"status": "failed", "failure": p.failure}
    changes = ProgressMemo(fresh()).changes(p)
    assert len(changes[PROGRESS]["failure"]) == MAX_MEMO_TEXT
    assert len(changes[OUTCOME]["failure"]) == MAX_MEMO_TEXT


def test_a_memo_without_progress_reads_as_none() -> None:
    assert progress_from_memo({"requestSha256": "abc"}) is None
