"""A job's ledger: what `ProcessJob` has done so far, and the result built from it at the end.

It keeps the job's progress (the `progress` query and `GET /jobs/{jobId}`), its log lines
(the callback's `logs`) and each step's summary as the step returns it; `finish` builds the
one `JobResult` from those summaries. Workflow code: deterministic, no I/O, and time only
through `workflow.now()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pressroom.workflows import plans

    from pressroom.models import (
        MAX_INLINE_ERRORS,
        ArtifactsResult,
        ArtifactSummary,
        EmbeddingInfo,
        EmbedSummary,
        FileDigest,
        JobInput,
        JobProgress,
        JobResult,
        LoadSummary,
        ParseSummary,
        ProfileSummary,
        PublishSummary,
        SourceSummary,
        StepProgress,
        SwitchSummary,
        ThumbnailCounts,
        inline_errors,
    )
    from pressroom.runtime import metrics

MAX_LOG_LINES = 100


def iso(ts: datetime) -> str:
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


class JobLedger:
    def __init__(self, job: JobInput, plan: plans.TaskPlan | None) -> None:
        self.job = job
        self.progress = JobProgress(
            job_id=job.job_id,
            task=job.task,
            steps=[StepProgress(name=s) for s in (plan.steps if plan else ())],
            trigger=job.trigger.as_dict() if job.trigger else None,
        )
        self.logs: list[str] = []
        self.source: SourceSummary | None = None
        self.embedding: EmbeddingInfo | None = None
        self.profile: ProfileSummary | None = None
        self.loaded: LoadSummary | None = None
        self.built: ArtifactSummary | None = None
        self.published: PublishSummary | None = None
        self.switched: SwitchSummary | None = None
        self.reused_unchanged = False
        self.thumbnails: ThumbnailCounts | None = None

    def log(self, line: str) -> None:
        if len(self.logs) < MAX_LOG_LINES:
            self.logs.append(f"{iso(workflow.now())} {line}")

    @contextmanager
    def step(self, name: str, total: int = 1) -> Iterator[StepProgress]:
        """The step is current and running inside; completed when the block ends normally
        (one that raises stays running until `finish` marks it failed or cancelled)."""
        self.progress.current_step = name
        progress = next(s for s in self.progress.steps if s.name == name)
        progress.state, progress.total, progress.done = "running", total, 0
        yield progress
        progress.state, progress.done = "completed", total

    def skip(self, *names: str) -> None:
        for progress in self.progress.steps:
            if progress.name in names:
                progress.state = "skipped"

    # --- what each step returned ------------------------------------------------------

    def fetched(self, source: SourceSummary) -> None:
        self.source = source
        self.progress.revision_id = source.revision_id
        self.progress.counts["files"] = source.files
        self.log(f"fetch: {source.files} files, revision {source.revision_id}")

    def unchanged(self, source: SourceSummary) -> None:
        self.reused_unchanged = True
        self.progress.counts.update(source.loaded_counts)
        self.skip(
            plans.PARSE,
            plans.EMBED_TEXT,
            plans.EMBED_IMAGES,
            plans.THUMBNAILS,
            plans.LOAD_DATABASE,
            plans.BUILD_ARTIFACTS,
        )
        self.log(
            f"fetch: nothing changed: revision {source.revision_id} is already built, "
            "published and loaded with this very output; reused as it is"
        )

    def parsed(self, parsed: ParseSummary, *, embeds: bool) -> None:
        p = self.progress
        p.counts.update(
            posts=parsed.posts,
            sections=parsed.sections,
            media=parsed.media,
            draftsSkipped=parsed.drafts_skipped,
        )
        p.errors = parsed.errors[:MAX_INLINE_ERRORS]
        p.error_count = parsed.error_count
        p.skipped, p.warnings, p.warning_count = (
            parsed.skipped,
            parsed.warnings,
            parsed.warning_count,
        )
        for err in parsed.errors[:10]:
            self.log(f"post error: {err.path}: {err.reason}")
        self.log(
            f"parse: {parsed.posts} posts, {parsed.sections} sections, {parsed.media} media, "
            f"{parsed.error_count} errors, {parsed.warning_count} warnings"
        )
        self.profile = parsed.profile
        if embeds:  # the result names the embedder of tasks that embed
            self.embedding = parsed.embedding

    def embedded(self, step: str, kind: str, summaries: list[EmbedSummary]) -> None:
        """Counts and outcomes of one kind's batches. Inputs the provider refused become job
        errors (the job still completes: those rows just have no vector); images left
        undescribed are listed as skipped."""
        p = self.progress
        computed = sum(s.computed for s in summaries)
        reused = sum(s.reused for s in summaries)
        p.counts[f"{kind}EmbeddingsComputed"] = computed
        p.counts[f"{kind}EmbeddingsReused"] = reused
        metrics.embedding_inputs(workflow.metric_meter(), kind, computed, reused)
        self.log(f"{step}: {computed} computed, {reused} reused")
        failed = sum(s.failed for s in summaries)
        if failed:
            p.counts[f"{kind}EmbeddingsFailed"] = failed
            p.error_count += failed
            refused = [e for s in summaries for e in s.failures]
            # Bounded in count and bytes together with the parse errors already listed.
            p.errors = inline_errors([*p.errors, *refused])
            for err in refused[:10]:
                self.log(f"not embedded: {err.path}: {err.reason}")
        if sum(s.described + s.descriptions_reused for s in summaries):
            p.counts["imagesDescribed"] = sum(s.described for s in summaries)
            p.counts["imageDescriptionsReused"] = sum(s.descriptions_reused for s in summaries)
        for note in (n for s in summaries for n in s.undescribed):
            if len(p.skipped) < MAX_INLINE_ERRORS:
                p.skipped.append(note)

    def thumbnails_made(self, made: ThumbnailCounts) -> None:
        self.thumbnails = made
        self.log(
            f"thumbnails: {made.made} made, {made.unreadable} unreadable, {made.reused} reused"
        )

    def loaded_revision(self, loaded: LoadSummary) -> None:
        if self.thumbnails is not None:
            # The load found the thumbnails step's previews stored: the job's own counts are
            # what either step made, and what neither had to.
            step, load = self.thumbnails, loaded.thumbnails
            loaded = loaded.model_copy(
                update={
                    "thumbnails": ThumbnailCounts(
                        made=step.made + load.made,
                        unreadable=step.unreadable + load.unreadable,
                        reused=max(0, load.reused - step.made - step.unreadable),
                    )
                }
            )
        self.loaded = loaded
        self.progress.counts.update(loaded.changes)
        site, revision = self.job.site, loaded.revision_id
        if loaded.superseded:
            self.log(
                f"load-database: site {site} already has a later job's revision "
                f"{loaded.previous_revision}; nothing loaded, nothing published"
            )
            self.skip(plans.BUILD_ARTIFACTS, plans.PUBLISH, plans.SWITCH)
        elif loaded.switched:
            self.log(f"load-database: revision {revision} is current for site {site}")
        else:
            self.log(f"load-database: revision {revision} loaded for site {site}")

    def published_revision(self, built: ArtifactSummary, published: PublishSummary) -> None:
        self.built, self.published = built, published
        revision = self.source.revision_id if self.source else ""
        if published.reused:
            self.log(f"publish: revision {revision} was already published; kept as is")
        else:
            self.log(f"publish: {len(built.files)} files under {published.base_url}")
        size = sum(f.bytes for f in built.files)
        metrics.published_bytes(workflow.metric_meter(), self.job.task, size)
        media = published.media
        if media is not None:
            counts = self.progress.counts
            counts["mediaUploaded"] = media.images_uploaded
            counts["mediaPresent"] = media.images_present
            counts["thumbnailsUploaded"] = media.thumbnails_uploaded
            counts["thumbnailsPresent"] = media.thumbnails_present
            self.log(
                f"publish: media {media.images_uploaded} uploaded, {media.images_present} "
                f"already published; thumbnails {media.thumbnails_uploaded} uploaded, "
                f"{media.thumbnails_present} already published"
            )

    def switched_revision(self, switched: SwitchSummary) -> None:
        self.switched = switched
        site, revision = self.job.site, switched.revision_id
        if switched.superseded:
            self.log(
                f"switch-revision: site {site} already has a later job's revision "
                f"{switched.current_revision}; it stays current, latest.json unchanged"
            )
        else:
            self.log(f"switch-revision: revision {revision} is current for site {site}")

    # --- the end ----------------------------------------------------------------------

    def failed(self, err: BaseException) -> str:
        self.progress.failure = failure_reason(err)
        self.log(f"job failed: {self.progress.failure}")
        return "failed"

    def cancelled(self) -> str:
        self.log("job cancelled")
        return "cancelled"

    def finish(self, status: str) -> JobResult:
        """The job's state is final: steps still running end with it; the result is built."""
        p = self.progress
        p.state, p.current_step = status, None
        for step in p.steps:
            if step.state == "running":
                step.state = "failed" if status == "failed" else "cancelled"
        loaded, switched = self.loaded, self.switched
        superseded = any(s is not None and s.superseded for s in (loaded, switched))
        result = JobResult(
            task=self.job.task,
            site=self.job.site,
            revision=self.source.revision_id if self.source else None,
            embedding=self.embedding,
            profile=self.profile,
            database=loaded,
            previous_revision=(loaded.previous_revision or None) if loaded else None,
            superseded=superseded or None,
            unchanged=self.reused_unchanged or None,
            artifacts=self._artifacts(),
            switch=switched,
            status=status,
            failure=p.failure,
            errors=list(p.errors),
            error_count=p.error_count,
            skipped=list(p.skipped),
            warnings=list(p.warnings),
            warning_count=p.warning_count,
            counts=dict(p.counts),
            trigger=p.trigger,
        )
        p.result = result.as_dict()
        return result

    def delivered(self, result: JobResult, outcome: dict[str, Any]) -> None:
        """The callback's outcome, readable from the result and the progress query."""
        result.callback = self.progress.callback = outcome
        self.progress.result = result.as_dict()

    def _artifacts(self) -> ArtifactsResult | None:
        built, published = self.built, self.published
        if built is None or published is None:
            return None
        # What the folder holds: this job's files, or those of the identical revision
        # published before (a published revision is never rewritten).
        held = published.published or built.files
        return ArtifactsResult(
            base=published.base_url,
            latest=published.latest_url,
            latest_updated=(
                self.switched.latest_updated if self.switched else published.latest_updated
            ),
            reused=published.reused,
            files={f.name: FileDigest(bytes=f.bytes, sha256=f.sha256) for f in held},
        )
