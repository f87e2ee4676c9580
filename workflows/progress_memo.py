"""A job's progress as its workflow publishes it in the Temporal memo, and reading it back.

`GET /jobs/{jobId}` reads a job from `describe()` alone: the memo carries the same
`JobProgress` the `progress` query returns, so a running job's steps, counts and errors, and a
closed job's outcome, need no worker to answer a query. Three memo fields, each upserted only
when it changed, so history grows with the number of steps (and, within an embed step, at most
`DONE_BUCKETS` updates), never with the size of the posts:

- `progress`: state, current step, steps, counts, counts of errors and warnings, revision,
  failure, callback (small: a few hundred bytes to a couple of KiB);
- `issues`: the bounded inline lists (errors, skipped, warnings; each capped in entries and
  bytes by the ledger), upserted only by the steps that change them;
- `outcome`: the job's result once it has one, without those three lists (the reader puts
  `issues` back), so no list travels through history twice in one event.

Plain data and pure functions: the workflow imports this module (through the sandbox's
pass-through) and the API reads with it. No Temporal imports, no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pressroom.models import JobProgress, PostError, StepProgress

__all__ = [
    "DONE_BUCKETS",
    "ISSUES",
    "MAX_MEMO_TEXT",
    "OUTCOME",
    "PROGRESS",
    "ProgressMemo",
    "initial_memo",
    "memo_fields",
    "progress_from_memo",
]

PROGRESS, ISSUES, OUTCOME = "progress", "issues", "outcome"
LISTS = ("errors", "skipped", "warnings")
# A step's `done` is republished when it crosses a tenth of its total (and when the step
# ends): a 500-batch embed step adds at most about ten memo updates to history.
DONE_BUCKETS = 10
# A failure message is already bounded in practice; the memo bounds it for certain, so
# a pathological message never makes one memo update approach the payload budget.
MAX_MEMO_TEXT = 4096


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_MEMO_TEXT:
        return text
    return text[: MAX_MEMO_TEXT - 1] + "…"


def memo_fields(progress: JobProgress) -> dict[str, Any]:
    """The memo fields for `progress` (JSON-ready). `outcome` is None until a result exists."""
    small = progress.model_dump(mode="json", exclude={*LISTS, "result"}, exclude_defaults=True)
    if progress.failure is not None:
        small["failure"] = _cut(progress.failure)
    issues = {name: [e.model_dump(mode="json") for e in getattr(progress, name)] for name in LISTS}
    outcome: dict[str, Any] | None = None
    if progress.result is not None:
        outcome = {k: v for k, v in progress.result.items() if k not in LISTS}
        if isinstance(outcome.get("failure"), str):
            outcome["failure"] = _cut(outcome["failure"])
    return {PROGRESS: small, ISSUES: issues, OUTCOME: outcome}


def _coarse(name: str, value: Any) -> Any:
    """What must differ for a field to be upserted again: a running step's `done` counts
    only by the tenth of its total it has reached."""
    if name != PROGRESS or not isinstance(value, dict):
        return value
    steps = []
    for step in value.get("steps", []):
        total, done = step.get("total", 0), step.get("done", 0)
        if step.get("state") == "running" and total > 0:
            step = {**step, "done": done * DONE_BUCKETS // total}
        steps.append(step)
    return {**value, "steps": steps}


class ProgressMemo:
    """What the workflow last upserted, and which fields the next upsert must carry.

    Starts from the fields of a fresh progress (what the API's start memo holds), so a job
    with no errors never upserts `issues`, and a job with no result never upserts `outcome`.
    Deterministic: it depends on the progress alone.
    """

    def __init__(self, progress: JobProgress) -> None:
        fresh = JobProgress(
            job_id=progress.job_id,
            task=progress.task,
            steps=[StepProgress(name=s.name) for s in progress.steps],
        )
        self.sent: dict[str, Any] = memo_fields(fresh)

    def changes(self, progress: JobProgress) -> dict[str, Any]:
        """The fields that differ from what was last sent (now recorded as sent)."""
        fields = memo_fields(progress)
        changed = {
            name: value
            for name, value in fields.items()
            if _coarse(name, value) != _coarse(name, self.sent.get(name))
        }
        self.sent.update(changed)
        return changed


def initial_memo(
    job_id: str, task: str, steps: tuple[str, ...], trigger: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `progress` field a job starts with (pending, every step pending, what started
    it): what a job answers before a worker has picked it up."""
    fresh = JobProgress(
        job_id=job_id, task=task, steps=[StepProgress(name=s) for s in steps], trigger=trigger
    )
    return {PROGRESS: memo_fields(fresh)[PROGRESS]}


def progress_from_memo(memo: Mapping[str, Any]) -> JobProgress | None:
    """The job's progress from its memo, as the `progress` query would return it (failure
    messages cut to MAX_MEMO_TEXT); None when the memo has no progress (a job started before
    the workflow published it)."""
    small = memo.get(PROGRESS)
    if not isinstance(small, dict):
        return None
    issues = memo.get(ISSUES) or {}
    lists = {name: [PostError.model_validate(e) for e in issues.get(name, [])] for name in LISTS}
    progress = JobProgress.model_validate({**small, **lists})
    outcome = memo.get(OUTCOME)
    if isinstance(outcome, dict):
        # The result's lists are the progress's own at the end (the ledger copies them).
        progress.result = {**outcome, **{n: issues.get(n, []) for n in LISTS}}
    return progress
