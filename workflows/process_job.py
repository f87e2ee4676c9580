"""`ProcessJob`: the durable job. Runs a task's plan step by step, then always calls back.

Deterministic only: no I/O, clock or randomness outside `workflow.*`. Everything the steps
exchange goes through the work store; this workflow sees keys, counts and summaries.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities.contracts import (
        BuildRequest,
        CallbackRequest,
        CleanupRequest,
        EmbedRequest,
        LoadRequest,
        PublishRequest,
        StepRequest,
        SwitchRequest,
    )
    from activities.pipeline import PipelineActivities
    from pressroom import metrics
    from pressroom.models import (
        MAX_INLINE_ERRORS,
        EmbeddingInfo,
        EmbedSummary,
        JobInput,
        JobProgress,
        ParseSummary,
        StepProgress,
        inline_errors,
    )
    from pressroom.webhooks import callback_body
    from workflows import plans
    from workflows.search_attributes import STATE

MAX_LOG_LINES = 100


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def failure_reason(err: BaseException) -> str:
    """The innermost message of an activity/application failure chain."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return str(err) or type(err).__name__


def callback_failure(err: ActivityError) -> dict[str, Any]:
    """{state, reason, attempts} of a callback that was not delivered: `refused` when the
    receiver or the network guard said no for good, `undelivered` when the window closed."""
    refused = False
    attempts: int | None = None
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            refused = refused or cause.non_retryable
            if attempts is None and cause.details and isinstance(cause.details[0], int):
                attempts = cause.details[0]
        cause = getattr(cause, "cause", None)
    return {
        "state": "refused" if refused else "undelivered",
        "reason": failure_reason(err)[:1024],
        "attempts": attempts,
    }


@workflow.defn(name="ProcessJob")
class ProcessJob:
    @workflow.init
    def __init__(self, job: JobInput) -> None:
        self._progress = JobProgress(
            job_id=job.job_id,
            task=job.task,
            steps=[StepProgress(name=s) for s in plans.PLANS.get(job.task, ())],
        )
        self._logs: list[str] = []

    # --- queries ------------------------------------------------------------------------

    @workflow.query
    def progress(self) -> JobProgress:
        return self._progress

    # --- the run ------------------------------------------------------------------------

    @workflow.run
    async def run(self, job: JobInput) -> dict[str, Any]:
        started = workflow.now()
        if job.requested_at is None:
            # Jobs started without a request time are ordered by when Temporal started them.
            start_time = workflow.info().workflow_start_time
            job = job.model_copy(update={"requested_at": _iso(start_time)})
        plan = plans.PLANS.get(job.task)
        self._progress.state = "running"
        self._progress.started_at = _iso(started)
        self._set_state("running")
        result: dict[str, Any] = {"task": job.task, "site": job.site}
        if job.ignored_fields:
            # Older clients send fields this contract does not use: accepted, but said.
            self._log(f"ignored request fields: {', '.join(job.ignored_fields)}")
        status = "completed"
        try:
            if plan is None:
                raise ApplicationError(
                    f"unknown task {job.task!r}; known tasks: {', '.join(plans.KNOWN_TASKS)}",
                    type=plans.BAD_INPUT,
                    non_retryable=True,
                )
            await self._run_plan(job, plan, result, started)
        except (ActivityError, ApplicationError) as err:
            # A cancelled job sees its running step end as an ActivityError caused by a
            # CancelledError (the SDK turns the workflow's cancellation into an activity
            # cancel), not as asyncio.CancelledError. Once a cancel was requested, a step that
            # ends another way (say its worker died and it timed out) still ends a job that
            # was asked to stop: cancelled, not failed.
            if workflow.cancellation_reason() is not None:
                status = "cancelled"
                self._log("job cancelled")
            else:
                status = "failed"
                self._progress.failure = failure_reason(err)
                self._log(f"job failed: {self._progress.failure}")
        except asyncio.CancelledError:
            status = "cancelled"
            self._log("job cancelled")

        self._progress.state = status
        self._progress.current_step = None
        for step in self._progress.steps:
            if step.state == "running":
                step.state = "failed" if status == "failed" else "cancelled"
        result["status"] = status
        if self._progress.failure:
            result["failure"] = self._progress.failure
        result["errors"] = [e.model_dump() for e in self._progress.errors]
        result["errorCount"] = self._progress.error_count
        result["skipped"] = [e.model_dump() for e in self._progress.skipped]
        result["warnings"] = [e.model_dump() for e in self._progress.warnings]
        result["warningCount"] = self._progress.warning_count
        result["counts"] = dict(self._progress.counts)
        self._progress.result = result
        self._set_state(status)
        metrics.job_finished(workflow.metric_meter(), job.task, status)

        await self._callback(job, status, result, started)
        # A failed job keeps its work store so `temporal workflow reset` can re-run a step.
        if status != "failed":
            await self._activity(
                PipelineActivities.cleanup_work, CleanupRequest(job_id=job.job_id), "cleanup", job
            )
        if status == "failed":
            raise ApplicationError(
                self._progress.failure or "job failed", type="JobFailed", non_retryable=True
            )
        if status == "cancelled":
            raise CancelledError("job cancelled")
        return result

    async def _run_plan(
        self, job: JobInput, plan: tuple[str, ...], result: dict[str, Any], started: datetime
    ) -> None:
        counts = self._progress.counts
        req = StepRequest(job=job)

        source = await self._step(plans.FETCH, PipelineActivities.fetch_source, req, job)
        revision = source.revision_id
        self._progress.revision_id = revision
        result["revision"] = revision
        counts["files"] = source.files
        self._log(f"fetch: {source.files} files, revision {revision}")

        parsed: ParseSummary = await self._step(
            plans.PARSE, PipelineActivities.parse_source, req, job
        )
        counts.update(
            posts=parsed.posts,
            sections=parsed.sections,
            media=parsed.media,
            draftsSkipped=parsed.drafts_skipped,
        )
        self._progress.errors = parsed.errors[:MAX_INLINE_ERRORS]
        self._progress.error_count = parsed.error_count
        self._progress.skipped = parsed.skipped
        self._progress.warnings = parsed.warnings
        self._progress.warning_count = parsed.warning_count
        for err in parsed.errors[:10]:
            self._log(f"post error: {err.path}: {err.reason}")
        self._log(
            f"parse: {parsed.posts} posts, {parsed.sections} sections, {parsed.media} media, "
            f"{parsed.error_count} errors, {parsed.warning_count} warnings"
        )

        embedding: EmbeddingInfo | None = None
        if plans.EMBED_TEXT in plan or plans.EMBED_IMAGES in plan:
            embedding = parsed.embedding
            result["embedding"] = embedding.model_dump() if embedding else None
        for step, kind, batches in (
            (plans.EMBED_TEXT, "text", parsed.text_batches),
            (plans.EMBED_IMAGES, "media", parsed.media_batches),
        ):
            if step in plan:
                summaries = await self._embed(job, step, kind, batches, embedding)
                computed = sum(s.computed for s in summaries)
                reused = sum(s.reused for s in summaries)
                counts[f"{kind}EmbeddingsComputed"] = computed
                counts[f"{kind}EmbeddingsReused"] = reused
                metrics.embedding_inputs(workflow.metric_meter(), kind, computed, reused)
                self._log(f"{step}: {computed} computed, {reused} reused")
                self._embed_outcomes(kind, summaries)

        # The site's current revision (and latest.json) switch in a last step, after the
        # artifacts are published, so a job failing before then changes neither.
        deferred = False
        if plans.LOAD_DATABASE in plan:
            if embedding is None:
                raise ApplicationError("load-database needs an embedding step", non_retryable=True)
            deferred = plans.SWITCH in plan and workflow.patched(plans.DEFERRED_SWITCH)
            loaded = await self._step(
                plans.LOAD_DATABASE,
                PipelineActivities.load_database,
                LoadRequest(
                    job=job,
                    revision_id=revision,
                    text_batches=parsed.text_batches,
                    media_batches=parsed.media_batches,
                    embedding=embedding,
                    switch=not deferred,
                    output_key=source.output_key,
                ),
                job,
            )
            result["database"] = loaded.model_dump()
            counts.update(loaded.changes)
            if loaded.previous_revision:
                result["previousRevision"] = loaded.previous_revision
            if loaded.superseded:
                result["superseded"] = True
                self._log(
                    f"load-database: site {job.site} already has a later job's revision "
                    f"{loaded.previous_revision}; nothing loaded, nothing published"
                )
                for step in (plans.BUILD_ARTIFACTS, plans.PUBLISH, plans.SWITCH):
                    self._skip(step)
                return
            if loaded.switched:
                self._log(f"load-database: revision {revision} is current for site {job.site}")
            else:
                self._log(f"load-database: revision {revision} loaded for site {job.site}")

        if plans.BUILD_ARTIFACTS in plan:
            built = await self._step(
                plans.BUILD_ARTIFACTS,
                PipelineActivities.build_artifacts,
                BuildRequest(
                    job=job,
                    revision_id=revision,
                    text_batches=parsed.text_batches if embedding else 0,
                    media_batches=parsed.media_batches if embedding else 0,
                    embedding=embedding,
                    counts=dict(counts),
                    created_at=_iso(started),
                    output_key=source.output_key,
                    kind=source.kind,
                ),
                job,
            )
            files = [f.name for f in built.files]
            if plans.PUBLISH in plan:
                published = await self._step(
                    plans.PUBLISH,
                    PipelineActivities.publish_artifacts,
                    PublishRequest(
                        job=job,
                        revision_id=revision,
                        files=files,
                        published_at=_iso(started),
                        update_latest=not deferred,
                        output_key=source.output_key,
                        kind=source.kind,
                        artifacts=built.files,
                    ),
                    job,
                )
                # What the folder holds: this job's files, or those of the identical
                # revision published before (a published revision is never rewritten).
                held = published.published or built.files
                result["artifacts"] = {
                    "base": published.base_url,
                    "latest": published.latest_url,
                    "latestUpdated": published.latest_updated,
                    "reused": published.reused,
                    "files": {f.name: {"bytes": f.bytes, "sha256": f.sha256} for f in held},
                }
                if published.reused:
                    self._log(f"publish: revision {revision} was already published; kept as is")
                else:
                    self._log(f"publish: {len(files)} files under {published.base_url}")
                size = sum(f.bytes for f in built.files)
                metrics.published_bytes(workflow.metric_meter(), job.task, size)

        if deferred:
            await self._switch(job, revision, result, started)

    async def _switch(
        self, job: JobInput, revision: str, result: dict[str, Any], started: datetime
    ) -> None:
        switched = await self._step(
            plans.SWITCH,
            PipelineActivities.switch_revision,
            SwitchRequest(job=job, revision_id=revision, published_at=_iso(started)),
            job,
        )
        result["switch"] = switched.model_dump()
        if "artifacts" in result:
            result["artifacts"]["latestUpdated"] = switched.latest_updated
        if switched.superseded:
            result["superseded"] = True
            self._log(
                f"switch-revision: site {job.site} already has a later job's revision "
                f"{switched.current_revision}; it stays current, latest.json unchanged"
            )
        else:
            self._log(f"switch-revision: revision {revision} is current for site {job.site}")

    async def _embed(
        self,
        job: JobInput,
        step: str,
        kind: str,
        batches: int,
        expected: EmbeddingInfo | None,
    ) -> list[EmbedSummary]:
        """Fan the batches out as parallel activities, at most `embed_concurrency` at once."""
        progress = self._begin(step, total=batches)
        gate = asyncio.Semaphore(max(1, job.embed_concurrency))

        async def one(batch: int) -> EmbedSummary:
            async with gate:
                summary: EmbedSummary = await self._activity(
                    PipelineActivities.embed_batch,
                    EmbedRequest(job=job, kind=kind, batch=batch, expected=expected),
                    step,
                    job,
                )
                progress.done += 1
                return summary

        tasks = [asyncio.ensure_future(one(i)) for i in range(batches)]
        try:
            summaries = await asyncio.gather(*tasks)
        except BaseException:
            # One batch failed or the job was cancelled: stop the other batches. A cancelled
            # job also waits until they have stopped, so none is still writing into the work
            # store that its cleanup removes (a failed job keeps its work store).
            for task in tasks:
                task.cancel()
            if workflow.cancellation_reason() is not None:
                await asyncio.gather(*tasks, return_exceptions=True)
            raise
        progress.state = "completed"
        return list(summaries)

    def _embed_outcomes(self, kind: str, summaries: list[EmbedSummary]) -> None:
        """Inputs the provider refused become job errors (the job still completes: those
        rows just have no vector); images left undescribed are listed as skipped."""
        counts = self._progress.counts
        failed = sum(s.failed for s in summaries)
        if failed:
            counts[f"{kind}EmbeddingsFailed"] = failed
            self._progress.error_count += failed
            refused = [err for summary in summaries for err in summary.failures]
            # Bounded in count and bytes together with the parse errors already listed.
            self._progress.errors = inline_errors([*self._progress.errors, *refused])
            for err in refused[:10]:
                self._log(f"not embedded: {err.path}: {err.reason}")
        described = sum(s.described + s.descriptions_reused for s in summaries)
        if described:
            counts["imagesDescribed"] = sum(s.described for s in summaries)
            counts["imageDescriptionsReused"] = sum(s.descriptions_reused for s in summaries)
        for summary in summaries:
            for note in summary.undescribed:
                if len(self._progress.skipped) < MAX_INLINE_ERRORS:
                    self._progress.skipped.append(note)

    # --- helpers ------------------------------------------------------------------------

    def _skip(self, step: str) -> None:
        for progress in self._progress.steps:
            if progress.name == step:
                progress.state = "skipped"

    def _begin(self, step: str, total: int = 1) -> StepProgress:
        self._progress.current_step = step
        progress = next(s for s in self._progress.steps if s.name == step)
        progress.state, progress.total, progress.done = "running", total, 0
        return progress

    async def _step(self, step: str, fn: Any, arg: Any, job: JobInput) -> Any:
        progress = self._begin(step)
        out = await self._activity(fn, arg, step, job)
        progress.state, progress.done = "completed", 1
        return out

    async def _activity(
        self, fn: Any, arg: Any, step: str, job: JobInput, policy: plans.StepPolicy | None = None
    ) -> Any:
        policy = policy or plans.step_policy(step, job.heartbeat_seconds)
        return await workflow.execute_activity_method(
            fn,
            arg,
            start_to_close_timeout=policy.start_to_close,
            schedule_to_close_timeout=policy.schedule_to_close,
            heartbeat_timeout=policy.heartbeat,
            retry_policy=policy.retry,
            cancellation_type=policy.cancellation,
        )

    async def _callback(
        self, job: JobInput, status: str, result: dict[str, Any], started: datetime
    ) -> None:
        if not job.callback_url:
            return
        finished = workflow.now()
        body = callback_body(
            job.job_id,
            status,
            result,
            _iso(finished),
            int((finished - started) / timedelta(milliseconds=1)),
            self._logs,
        )
        request = CallbackRequest(
            job_id=job.job_id,
            url=job.callback_url,
            url_sealed=job.callback_url_sealed,
            msg_id=f"msg_{workflow.info().workflow_id}_{workflow.info().run_id}",
            body=body.decode(),
        )
        # Retried with jittered backoff (and Retry-After) until delivered, refused for good
        # (410, 4xx) or the delivery window closes: one activity, so history does not grow.
        policy = plans.callback_policy(job.callback_window_seconds, job.heartbeat_seconds)
        self._progress.callback = {"state": "delivering"}
        try:
            status = await self._activity(
                PipelineActivities.send_callback, request, plans.CALLBACK, job, policy
            )
            outcome: dict[str, Any] = {"state": "delivered", "status": status}
        except ActivityError as err:
            # The outcome stays readable from the workflow result and GET /jobs/{jobId}.
            outcome = callback_failure(err)
            self._log(f"callback {outcome['state']}: {outcome['reason']}")
            workflow.logger.warning(
                "callback %s for job %s: %s", outcome["state"], job.job_id, outcome["reason"]
            )
        self._progress.callback = outcome
        result["callback"] = outcome

    def _set_state(self, state: str) -> None:
        workflow.upsert_search_attributes([STATE.value_set(state)])

    def _log(self, line: str) -> None:
        stamped = f"{_iso(workflow.now())} {line}"
        if len(self._logs) < MAX_LOG_LINES:
            self._logs.append(stamped)
