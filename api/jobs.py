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

from pressroom.workflows.process_job import ProcessJob
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


async def start_job(client: Client, job: JobInput, task_queue: str) -> Started:
    try:
        handle = await client.start_workflow(
            ProcessJob.run,
            job,
            id=job.job_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            memo={FINGERPRINT_MEMO: job.request_sha256},
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


async def describe_job(client: Client, job_id: str) -> dict[str, Any] | None:
    """The job's state for `GET /jobs/{jobId}`; None when no such job exists."""
    handle = client.get_workflow_handle(job_id)
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = _STATUS.get(desc.status, "running") if desc.status else "pending"
    progress: JobProgress | None = None
    try:
        progress = await handle.query(ProcessJob.progress, rpc_timeout=QUERY_TIMEOUT)
    except Exception:
        progress = None  # no worker to answer the query: describe and the result still tell
    view = _job_view(job_id, desc, status, progress)
    if progress is None and status in ("completed", "failed", "cancelled"):
        view.update(await _closed_outcome(handle))
    return view


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
            warnings=[w.model_dump() for w in progress.warnings],
            warningCount=progress.warning_count,
            revision=progress.revision_id,
            result=progress.result,
            failure=progress.failure,
            callback=progress.callback,
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
