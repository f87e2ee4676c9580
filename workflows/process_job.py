"""`ProcessJob`: the durable job. Runs a task's steps top to bottom, then always calls back.

Each step is one short method: it calls its activity with the timeouts and retry policy
declared in `plans`, records the summary in the job's ledger and returns it. Which steps a
task runs is its `TaskPlan`'s flags. Deterministic only: no I/O, clock or randomness outside
`workflow.*`. Everything the steps exchange goes through the work store; this workflow sees
keys, counts and summaries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from pressroom.activities.contracts import (
        BuildRequest,
        CallbackRequest,
        CleanupRequest,
        EmbedRequest,
        LoadRequest,
        PublishRequest,
        StepRequest,
        SwitchRequest,
    )
    from pressroom.activities.pipeline import PipelineActivities
    from pressroom.workflows import plans
    from pressroom.workflows.ledger import JobLedger, callback_failure, iso
    from pressroom.workflows.progress_memo import ProgressMemo
    from pressroom.workflows.search_attributes import JOB_ID, STATE

    from pressroom.callbacks.webhooks import callback_body
    from pressroom.models import (
        ArtifactSummary,
        EmbeddingInfo,
        EmbedSummary,
        JobInput,
        JobProgress,
        JobResult,
        LoadSummary,
        ParseSummary,
        PublishSummary,
        SourceSummary,
        SwitchSummary,
    )
    from pressroom.runtime import metrics

T = TypeVar("T")
RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")
Embedding = EmbeddingInfo | None  # None: the task does not embed


@workflow.defn(name="ProcessJob")
class ProcessJob:
    @workflow.init
    def __init__(self, job: JobInput) -> None:
        job = as_started(job)
        self.plan = plans.TASKS.get(job.task)
        self.ledger = JobLedger(job, self.plan)
        self.heartbeat = timedelta(seconds=job.heartbeat_seconds)
        self.started = job_start_time()
        self.memo = ProgressMemo(self.ledger.progress)

    @workflow.query
    def progress(self) -> JobProgress:
        return self.ledger.progress

    @workflow.run
    async def run(self, job: JobInput) -> dict[str, Any]:
        job = as_started(job)
        if job.trigger is not None and job.trigger.kind == "schedule":
            # The schedule's action could not know this run's id: make the job findable by it.
            workflow.upsert_search_attributes([JOB_ID.value_set(job.job_id)])
        if job.requested_at is None:
            # Jobs started without a request time are ordered by when Temporal started them.
            start_time = workflow.info().workflow_start_time
            job = job.model_copy(update={"requested_at": iso(start_time)})
        self.ledger.progress.state, self.ledger.progress.started_at = "running", iso(self.started)
        self._set_state("running")
        if job.ignored_fields:
            # Older clients send fields this contract does not use: accepted, but said.
            self.ledger.log(f"ignored request fields: {', '.join(job.ignored_fields)}")
        try:
            await self.run_task(job)
            status = "completed"
        except (ActivityError, ApplicationError) as err:
            # A cancelled job sees its running step end as an ActivityError caused by a
            # CancelledError (the SDK turns the workflow's cancellation into an activity
            # cancel). Once a cancel was requested, a step that ends another way (say its
            # worker died and it timed out) still ends a job asked to stop: cancelled.
            cancelled = workflow.cancellation_reason() is not None
            status = self.ledger.cancelled() if cancelled else self.ledger.failed(err)
        except asyncio.CancelledError:
            status = self.ledger.cancelled()
        result = self.ledger.finish(status)
        self._set_state(status)
        metrics.job_finished(workflow.metric_meter(), job.task, status)
        if job.callback_url:
            self.ledger.delivered(result, await self.call_back(job, job.callback_url, result))
        self.publish_progress()
        # Every job's work store stays for WORK_RETENTION, for `workflow reset`, marked for the
        # janitor. Runs from before the patch left a failed job's unmarked (kept forever).
        if status != "failed" or workflow.patched(plans.MARK_FAILED_WORK):
            await self.clean_up(job, status)
        if status == "failed":
            failure = result.failure or "job failed"
            raise ApplicationError(failure, type="JobFailed", non_retryable=True)
        if status == "cancelled":
            raise CancelledError("job cancelled")
        return result.as_dict()

    async def run_task(self, job: JobInput) -> None:
        plan = self.plan
        if plan is None:
            raise ApplicationError(
                f"unknown task {job.task!r}; known tasks: {', '.join(plans.KNOWN_TASKS)}",
                type=plans.BAD_INPUT,
                non_retryable=True,
            )
        source = await self.fetch(job)
        if plan.switch and source.unchanged and workflow.patched(plans.REUSE_UNCHANGED):
            await self.reuse(job, source)
            return
        parsed = await self.parse(job, embeds=plan.embed)
        embedding = parsed.embedding if plan.embed else None
        if plan.embed:

            async def embed_all() -> None:
                await self.embed(job, plans.EMBED_TEXT, "text", parsed.text_batches, embedding)
                await self.embed(job, plans.EMBED_IMAGES, "media", parsed.media_batches, embedding)

            if not (plan.load_database and workflow.patched(plans.THUMBNAILS_BESIDE_EMBEDDING)):
                await embed_all()
            elif embedding is not None and embedding.provider in plans.LOCAL_EMBEDDERS:
                await embed_all()
                await self.thumbnails(job)
            else:
                await all_or_none([embed_all(), self.thumbnails(job)])
        # The site's current revision (and latest.json) switch in a last step, after the
        # artifacts are published, so a job failing before then changes neither.
        deferred = False
        if plan.load_database:
            deferred = plan.switch and workflow.patched(plans.DEFERRED_SWITCH)
            loaded = await self.load(job, source, parsed, switch=not deferred)
            if loaded.superseded:
                return
        built = await self.build(job, source, parsed, embedding)
        await self.publish(job, source, built, update_latest=not deferred)
        if deferred:
            await self.switch(job, source.revision_id)

    async def reuse(self, job: JobInput, source: SourceSummary) -> None:
        """Nothing changed since this very output was built: publish (which finds the folder
        published and lists its files) and switch; parse, embed, load and build never run."""
        self.ledger.unchanged(source)
        await self.publish(job, source, ArtifactSummary(files=[]), update_latest=False)
        await self.switch(job, source.revision_id)

    # --- the steps ------------------------------------------------------------------------

    async def run_step(
        self,
        activity: Callable[[Any, RequestT], Awaitable[ResultT]],
        request: RequestT,
        policy: plans.StepPolicy,
    ) -> ResultT:
        """One step's activity under its policy, heartbeating within the job's timeout."""
        self.publish_progress()
        return await workflow.execute_activity_method(
            activity,
            request,
            start_to_close_timeout=policy.start_to_close,
            heartbeat_timeout=self.heartbeat,
            retry_policy=policy.retry,
            cancellation_type=policy.cancellation,
        )

    async def fetch(self, job: JobInput) -> SourceSummary:
        with self.ledger.step(plans.FETCH):
            source = await self.run_step(
                PipelineActivities.fetch_source, StepRequest(job=job), plans.FETCH_POLICY
            )
        self.ledger.fetched(source)
        return source

    async def parse(self, job: JobInput, *, embeds: bool) -> ParseSummary:
        with self.ledger.step(plans.PARSE):
            parsed = await self.run_step(
                PipelineActivities.parse_source, StepRequest(job=job), plans.PARSE_POLICY
            )
        self.ledger.parsed(parsed, embeds=embeds)
        return parsed

    async def embed(
        self, job: JobInput, step: str, kind: str, batches: int, expected: Embedding
    ) -> list[EmbedSummary]:
        """The kind's batches as parallel activities, at most `embed_concurrency` at once."""
        gate = asyncio.Semaphore(max(1, job.embed_concurrency))
        with self.ledger.step(step, total=batches) as progress:

            async def one(batch: int) -> EmbedSummary:
                async with gate:
                    summary = await self.run_step(
                        PipelineActivities.embed_batch,
                        EmbedRequest(job=job, kind=kind, batch=batch, expected=expected),
                        plans.EMBED_POLICY,
                    )
                    progress.done += 1
                    self.publish_progress()
                    return summary

            summaries = await all_or_none([one(batch) for batch in range(batches)])
        self.ledger.embedded(step, kind, summaries)
        return summaries

    async def thumbnails(self, job: JobInput) -> None:
        with self.ledger.step(plans.THUMBNAILS):
            made = await self.run_step(
                PipelineActivities.make_thumbnails, StepRequest(job=job), plans.THUMBNAILS_POLICY
            )
        self.ledger.thumbnails_made(made)

    async def load(
        self, job: JobInput, source: SourceSummary, parsed: ParseSummary, *, switch: bool
    ) -> LoadSummary:
        if parsed.embedding is None:
            raise ApplicationError("load-database needs an embedding step", non_retryable=True)
        with self.ledger.step(plans.LOAD_DATABASE):
            loaded = await self.run_step(
                PipelineActivities.load_database,
                LoadRequest.of(job, source, parsed, parsed.embedding, switch=switch),
                plans.LOAD_POLICY,
            )
        self.ledger.loaded_revision(loaded)
        return loaded

    async def build(
        self, job: JobInput, source: SourceSummary, parsed: ParseSummary, embedding: Embedding
    ) -> ArtifactSummary:
        counts, created_at = dict(self.ledger.progress.counts), iso(self.started)
        with self.ledger.step(plans.BUILD_ARTIFACTS):
            return await self.run_step(
                PipelineActivities.build_artifacts,
                BuildRequest.of(
                    job, source, parsed, embedding, counts=counts, created_at=created_at
                ),
                plans.BUILD_POLICY,
            )

    async def publish(
        self, job: JobInput, source: SourceSummary, built: ArtifactSummary, *, update_latest: bool
    ) -> PublishSummary:
        published_at = iso(self.started)
        with self.ledger.step(plans.PUBLISH):
            published = await self.run_step(
                PipelineActivities.publish_artifacts,
                PublishRequest.of(
                    job, source, built, published_at=published_at, update_latest=update_latest
                ),
                plans.PUBLISH_POLICY,
            )
        self.ledger.published_revision(built, published)
        return published

    async def switch(self, job: JobInput, revision: str) -> SwitchSummary:
        with self.ledger.step(plans.SWITCH):
            switched = await self.run_step(
                PipelineActivities.switch_revision,
                SwitchRequest(job=job, revision_id=revision, published_at=iso(self.started)),
                plans.SWITCH_POLICY,
            )
        self.ledger.switched_revision(switched)
        return switched

    async def call_back(self, job: JobInput, url: str, result: JobResult) -> dict[str, Any]:
        """POST the outcome: one activity, retried with jittered backoff (and Retry-After)
        until delivered, refused for good (410, 4xx) or the delivery window closes, so
        history does not grow with the attempts. Returns the delivery's outcome."""
        finished, info = workflow.now(), workflow.info()
        duration_ms = int((finished - self.started) / timedelta(milliseconds=1))
        logs = self.ledger.logs
        body = callback_body(
            job.job_id, result.status, result.as_dict(), iso(finished), duration_ms, logs
        )
        policy = plans.callback_policy(job.callback_window_seconds)
        self.ledger.progress.callback = {"state": "delivering"}
        self.publish_progress()  # the job's outcome, readable while delivery is retried
        try:
            status = await workflow.execute_activity_method(
                PipelineActivities.send_callback,
                CallbackRequest(
                    job_id=job.job_id,
                    url=url,
                    url_sealed=job.callback_url_sealed,
                    msg_id=f"msg_{info.workflow_id}_{info.run_id}",
                    body=body.decode(),
                ),
                start_to_close_timeout=policy.start_to_close,
                schedule_to_close_timeout=policy.schedule_to_close,
                heartbeat_timeout=self.heartbeat,
                retry_policy=policy.retry,
                cancellation_type=policy.cancellation,
            )
        except ActivityError as err:
            outcome = callback_failure(err)
            self.ledger.log(f"callback {outcome['state']}: {outcome['reason']}")
            workflow.logger.warning(
                "callback %s for job %s: %s", outcome["state"], job.job_id, outcome["reason"]
            )
            return outcome
        return {"state": "delivered", "status": status}

    async def clean_up(self, job: JobInput, status: str) -> None:
        try:
            await workflow.execute_activity_method(
                PipelineActivities.cleanup_work,
                CleanupRequest(job_id=job.job_id, status=status),
                start_to_close_timeout=plans.CLEANUP_POLICY.start_to_close,
                retry_policy=plans.CLEANUP_POLICY.retry,
                cancellation_type=plans.CLEANUP_POLICY.cancellation,
            )
        except ActivityError as err:
            if status != "failed":
                raise
            # A failed job ends with its own failure, not the marker's (its work store stays,
            # unmarked, as before markers existed).
            workflow.logger.warning("work store of job %s not marked: %s", job.job_id, err)

    def publish_progress(self) -> None:
        """Upsert what changed in the job's progress into its memo, so `GET /jobs/{jobId}`
        reads it from `describe()` without a query (and with no worker running). Called
        before the job waits on anything; runs started before the memo existed never do."""
        if not workflow.patched(plans.PROGRESS_MEMO):
            return
        changed = self.memo.changes(self.ledger.progress)
        if changed:
            workflow.upsert_memo(changed)

    def _set_state(self, state: str) -> None:
        workflow.upsert_search_attributes([STATE.value_set(state)])


def as_started(job: JobInput) -> JobInput:
    """The job as this run is: a scheduled job is named by its workflow id, which Temporal
    makes from the schedule's id prefix and the scheduled time when it starts the run."""
    if job.trigger is not None and job.trigger.kind == "schedule":
        return job.model_copy(update={"job_id": workflow.info().workflow_id})
    return job


async def all_or_none(coros: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run side by side. If one fails or the job is cancelled, stop the others; a cancelled
    job also waits until they have stopped, so none is still writing into the work store
    that its cleanup removes (a failed job keeps its work store)."""
    tasks = [asyncio.ensure_future(coro) for coro in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        if workflow.cancellation_reason() is not None:
            await asyncio.gather(*tasks, return_exceptions=True)
        raise


def job_start_time() -> datetime:
    """When the job started, stamped on what it publishes (`createdAt`, `publishedAt`): the
    workflow's start event, which `workflow reset` keeps, so a reset to the first step
    publishes the same bytes. Runs from before the patch used their first task's time."""
    if workflow.patched(plans.STABLE_START_TIME):
        return workflow.info().workflow_start_time
    return workflow.now()
