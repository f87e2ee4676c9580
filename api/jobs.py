"""Starting and inspecting jobs through Temporal: the one place that maps jobs to workflows.

The workflow id is the job id. Temporal refuses a second execution with the same id
(REJECT_DUPLICATE + FAIL on conflict), and the request fingerprint kept in the memo tells an
idempotent re-post (same body: the same job) from a conflicting one (different body: 409).
A re-post with the same body answers the job as it is: running or completed, the same job
(the contract's idempotent retry); failed, cancelled, terminated or timed out, `JobEnded`
(a 409 with its state), never "accepted" on a run that will not do anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pressroom.workflows.plans import TASKS
from pressroom.workflows.process_job import ProcessJob
from pressroom.workflows.progress_memo import initial_memo, progress_from_memo
from pressroom.workflows.search_attributes import JOB_ID, SITE, STATE, TASK
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.client import WorkflowExecutionStatus as RunStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from pressroom.models import JobInput, JobProgress

JOB_STATES = ("pending", "running", "completed", "failed", "cancelled")

FINGERPRINT_MEMO = "requestSha256"
QUERY_TIMEOUT = timedelta(seconds=5)

_STATUS = {
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING: "running",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED: "completed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED: "failed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CANCELED: "cancelled",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED: "failed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TIMED_OUT: "failed",
    WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "running",
}


class JobConflict(Exception):
    """The job id exists with a different request body."""

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(job_id)
        self.state = state


class JobEnded(Exception):
    """The job id names a job that ended without completing: re-posting it runs nothing."""

    def __init__(self, job_id: str, state: str, execution: str) -> None:
        super().__init__(job_id)
        self.state = state  # one of JOB_STATES: failed | cancelled
        self.execution = execution  # Temporal's word: failed, canceled, terminated, timed_out


@dataclass(frozen=True)
class Started:
    workflow_id: str
    run_id: str | None
    created: bool  # False: an identical request had already started this job
    state: str = "pending"  # the job's state when answered (JOB_STATES)


def _execution(status: RunStatus | None) -> str:
    """Temporal's own name for a run's status: `failed`, `canceled`, `terminated`, ..."""
    return status.name.lower() if status is not None else "running"


def _start_memo(job: JobInput) -> dict[str, Any]:
    """The progress a job shows before a worker picks it up: pending, its steps listed."""
    plan = TASKS.get(job.task)
    trigger = job.trigger.as_dict() if job.trigger else None
    return initial_memo(job.job_id, job.task, plan.steps if plan else (), trigger)


async def start_job(client: Client, job: JobInput, task_queue: str) -> Started:
    try:
        handle = await client.start_workflow(
            ProcessJob.run,
            job,
            id=job.job_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={FINGERPRINT_MEMO: job.request_sha256, **_start_memo(job)},
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(JOB_ID, job.job_id),
                    SearchAttributePair(TASK, job.task),
                    SearchAttributePair(SITE, job.site),
                    SearchAttributePair(STATE, "pending"),
                ]
            ),
            static_summary=f"{job.task} {job.site} from {job.repo_url[:200]}",
        )
        return Started(job.job_id, handle.first_execution_run_id, created=True)
    except WorkflowAlreadyStartedError:
        desc = await client.get_workflow_handle(job.job_id).describe()
        memo = await desc.memo()
        state = _STATUS.get(desc.status, "running") if desc.status else "running"
        if memo.get(FINGERPRINT_MEMO) != job.request_sha256:
            raise JobConflict(job.job_id, state) from None
        if state in ("failed", "cancelled"):
            raise JobEnded(job.job_id, state, _execution(desc.status)) from None
        return Started(job.job_id, desc.run_id, created=False, state=state)


CLOSED_STATES = ("completed", "failed", "cancelled")
# Events of a run that no workflow task has finished yet: started, task scheduled, task started.
_UNTOUCHED_HISTORY = 3


@dataclass(frozen=True)
class JobRead:
    """A job's view as `GET /jobs/{jobId}` shows it, and the run it was read from."""

    view: dict[str, Any]
    run_id: str | None
    closed: bool


async def describe_job(client: Client, job_id: str) -> dict[str, Any] | None:
    """The job's state for `GET /jobs/{jobId}`; None when no such job exists."""
    read = await read_job(client, job_id)
    return read.view if read is not None else None


async def read_job(client: Client, job_id: str, previous: JobRead | None = None) -> JobRead | None:
    """The job's view from one `describe()`: its progress is in the memo the workflow keeps
    up to date, so no worker is asked and none needs to run. `previous`, a read of the same
    job, is returned as it is when it was of the same closed run (a closed run never changes).

    Runs started before the workflow published its progress have none in their memo: those
    are asked with the `progress` query (which needs a worker), as before.
    """
    handle = client.get_workflow_handle(job_id)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = _STATUS.get(desc.status, "running") if desc.status else "pending"
    closed = status in CLOSED_STATES
    if previous is not None and previous.closed and closed and previous.run_id == desc.run_id:
        return previous
    progress = progress_from_memo(await desc.memo())
    touched = desc.history_length > _UNTOUCHED_HISTORY
    if touched and (progress is None or progress.state == "pending"):
        # Published by no workflow task so far although one has run: a run started before
        # the progress memo, or one whose worker runs older code. The query still tells.
        progress = await _query_progress(handle) or progress
    view = _job_view(job_id, desc, status, progress)
    if progress is None and not touched and status == "running":
        view["state"] = "pending"  # accepted, not yet picked up by a worker
    if closed and view.get("result") is None and view.get("failure") is None:
        # Ended without the workflow saying how (terminated, timed out, or an old run with
        # no worker to answer the query): the result or failure is in its history.
        view.update(await _closed_outcome(handle))
    return JobRead(view, desc.run_id, closed)


async def _query_progress(handle: WorkflowHandle[Any, Any]) -> JobProgress | None:
    try:
        return await handle.query(ProcessJob.progress, rpc_timeout=QUERY_TIMEOUT)
    except Exception:
        return None  # no worker to answer the query: describe and the result still tell


async def _closed_outcome(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    """A closed job's result or failure, read from history (no worker needed)."""
    try:
        result = await handle.result(follow_runs=False)
    except WorkflowFailureError as err:
        cause = err.cause
        while cause is not None and cause.cause is not None:
            cause = cause.cause
        return {"failure": str(cause or err)}
    return {"result": result, "counts": (result or {}).get("counts", {})}


def _job_view(
    job_id: str, desc: WorkflowExecutionDescription, status: str, progress: JobProgress | None
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "jobId": job_id,
        "workflowId": desc.id,
        "runId": desc.run_id,
        "state": status,
        "startedAt": desc.start_time.isoformat() if desc.start_time else None,
        "closedAt": desc.close_time.isoformat() if desc.close_time else None,
    }
    if progress is not None:
        view.update(
            state=progress.state if status == "running" else status,
            task=progress.task,
            currentStep=progress.current_step,
            steps=[s.model_dump() for s in progress.steps],
            counts=progress.counts,
            errors=[e.model_dump() for e in progress.errors],
            errorCount=progress.error_count,
            skipped=[s.model_dump() for s in progress.skipped],
            warnings=[w.model_dump() for w in progress.warnings],
            warningCount=progress.warning_count,
            revision=progress.revision_id,
            result=progress.result,
            failure=progress.failure,
            callback=progress.callback,
            trigger=progress.trigger or {"kind": "api"},
        )
    if status == "running" and progress is not None and progress.state == "pending":
        view["state"] = "pending"
    return view


class JobClosed(Exception):
    """The job has already ended, so there is nothing to cancel."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


async def cancel_job(client: Client, job_id: str) -> bool:
    """Ask Temporal to cancel the job's workflow; False when no such job exists.

    The workflow stops its running step at the step's next heartbeat, reports `cancelled` to
    the callback, cleans its work store and ends CANCELLED. Raises JobClosed if it had ended.
    """
    handle = client.get_workflow_handle(job_id)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    if desc.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
        raise JobClosed(_STATUS.get(desc.status, "failed") if desc.status else "failed")
    try:
        await handle.cancel()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # it ended between describe and cancel
            raise JobClosed("completed") from None
        raise
    return True


async def list_jobs(
    client: Client, state: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """Recent jobs, newest first, from Temporal visibility (the Pressroom search attributes)."""
    query = "WorkflowType = 'ProcessJob'"
    if state is not None:
        if state not in JOB_STATES:
            raise ValueError(f"unknown state {state!r}; known: {', '.join(JOB_STATES)}")
        query += f" AND {STATE.name} = '{state}'"
    jobs: list[dict[str, Any]] = []
    async for wf in client.list_workflows(query, limit=limit):
        attrs = wf.typed_search_attributes
        execution = _STATUS.get(wf.status, "running") if wf.status else "running"
        jobs.append(
            {
                "jobId": wf.id,
                "state": attrs.get(STATE) or execution,
                "execution": execution,
                "task": attrs.get(TASK),
                "site": attrs.get(SITE),
                "startedAt": wf.start_time.isoformat() if wf.start_time else None,
                "closedAt": wf.close_time.isoformat() if wf.close_time else None,
                "runId": wf.run_id,
            }
        )
    return jobs
