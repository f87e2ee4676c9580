"""The Temporal activities: one per pipeline step, thin wrappers over `pressroom.steps`.

The worker builds one `PipelineActivities` with its clients (store, database, embedder, HTTP
session) passed in, and registers its bound methods. Each activity works in a scratch
directory of its own, so concurrent activities on one worker never share files.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from temporalio import activity
from temporalio.exceptions import ApplicationError

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
from activities.heartbeat import step_context
from pressroom import delivery, faults, metrics, publication, related, sealing, webhooks
from pressroom.config import Settings
from pressroom.db_pool import Database
from pressroom.embeddings.base import Embedder
from pressroom.embeddings.cache import PostgresEmbeddingCache
from pressroom.embeddings.vision import DescriptionCache, make_describer
from pressroom.fetchers import FetchOptions
from pressroom.models import (
    ArtifactFile,
    ArtifactSummary,
    EmbedSummary,
    JobInput,
    LoadSummary,
    ParseSummary,
    PublishSummary,
    SourceSummary,
    SwitchSummary,
)
from pressroom.revisions import RevisionOrder, parse_time
from pressroom.sources import SourceLimits, redact_url
from pressroom.steps.artifacts import build_artifacts
from pressroom.steps.embed import embed_batch, embedding_info
from pressroom.steps.fetch import fetch_source
from pressroom.steps.load import load_database
from pressroom.steps.parse import html_policy_for, parse_source
from pressroom.steps.publish import publish_artifacts
from pressroom.steps.switch import switch_revision
from pressroom.storage import Store
from pressroom.workstore import WorkKeys
from workflows import plans


@asynccontextmanager
async def scratch_dir(job_id: str, step: str) -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"pressroom-{job_id[:40]}-{step}-") as tmp:
        yield Path(tmp)


class PipelineActivities:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        database: Database,
        embedder: Embedder,
        http: aiohttp.ClientSession,
    ) -> None:
        self.settings = settings
        self.store = store
        self.database = database
        self.embedder = embedder
        self.http = http
        self.hold = faults.FaultPlan.from_settings(
            settings.fault_hold_step, settings.fault_release_file
        )
        # Image descriptions (IMAGE_DESCRIPTIONS): None keeps media batches text-only.
        self.describer = make_describer(settings, embedder)

    async def aclose(self) -> None:
        """Release what this object created itself (the describer's own client, if any)."""
        if self.describer is not None:
            await self.describer.aclose()

    @activity.defn(name="fetch_source")
    async def fetch_source(self, req: StepRequest) -> SourceSummary:
        job = req.job
        limits = SourceLimits(
            max_total_bytes=self.settings.max_source_bytes,
            max_files=self.settings.max_source_files,
            max_file_bytes=self.settings.max_file_bytes,
        )
        async with step_context(plans.FETCH, self.hold) as progress:
            async with scratch_dir(job.job_id, plans.FETCH) as scratch:
                source = await fetch_source(
                    self.store,
                    WorkKeys(job.job_id),
                    self._reveal(job.repo_url, job.repo_url_sealed),
                    limits,
                    scratch,
                    job.revision_id,
                    progress,
                    options=FetchOptions.from_settings(self.settings),
                    http=self.http,
                )
            return await self._admit(job, source)

    def _build_options(self) -> dict[str, object]:
        """The worker settings that change what a revision's files hold."""
        return {
            "drafts": self.settings.include_drafts,
            "sanitize": self.settings.sanitize_html,
            "iframes": sorted(self.settings.iframe_hosts) if self.settings.sanitize_html else [],
        }

    async def _admit(self, job: JobInput, source: SourceSummary) -> SourceSummary:
        """Name the revision by its output and check it may be published (before any work)."""
        kind = (
            publication.KIND_FULL
            if plans.LOAD_DATABASE in plans.PLANS.get(job.task, ())
            else publication.KIND_PARSE
        )
        key = publication.output_key(
            content_id=source.content_id,
            kind=kind,
            embedding=embedding_info(self.embedder),
            options=self._build_options(),
            # A forced re-embed may give other vectors for the same input: a new revision.
            nonce=job.job_id if job.task in plans.REFRESH_EMBEDDINGS else None,
        )
        async with (await self.database.pool()).acquire() as conn:
            revision_id, published = await publication.admit_revision(
                conn,
                self.store,
                site=job.site,
                job_id=job.job_id,
                dist_folder=job.dist_folder,
                client_revision=job.revision_id,
                key=key,
            )
        return source.model_copy(
            update={
                "revision_id": revision_id,
                "output_key": key,
                "kind": kind,
                "already_published": published,
            }
        )

    @activity.defn(name="parse_source")
    async def parse_source(self, req: StepRequest) -> ParseSummary:
        async with step_context(plans.PARSE, self.hold) as progress:
            async with scratch_dir(req.job.job_id, plans.PARSE) as scratch:
                summary = await parse_source(
                    self.store,
                    WorkKeys(req.job.job_id),
                    scratch,
                    include_drafts=self.settings.include_drafts,
                    batch_size=self.settings.embed_batch_size,
                    progress=progress,
                    max_post_bytes=self.settings.max_post_bytes,
                    keep_images=self.describer is not None,
                    processes=self.settings.parse_processes,
                    # The worker's own settings, as the revision's output key uses them.
                    html_policy=html_policy_for(self.settings),
                )
        return summary.model_copy(update={"embedding": embedding_info(self.embedder)})

    @activity.defn(name="embed_batch")
    async def embed_batch(self, req: EmbedRequest) -> EmbedSummary:
        step = plans.EMBED_TEXT if req.kind == "text" else plans.EMBED_IMAGES
        info = embedding_info(self.embedder)
        if req.expected and req.expected != info:
            raise ApplicationError(
                f"this worker embeds with {info}, the job started with {req.expected}",
                type="EmbedderMismatch",
                non_retryable=True,
            )
        cache = PostgresEmbeddingCache(
            await self.database.pool(),
            info.provider,
            info.model,
            info.version,
            info.dimensions,
            refresh=req.job.task in plans.REFRESH_EMBEDDINGS,
        )
        descriptions = (
            DescriptionCache(await self.database.pool(), self.describer.model)
            if self.describer is not None
            else None
        )
        async with step_context(step, self.hold) as progress:
            async with scratch_dir(req.job.job_id, step) as scratch:
                return await embed_batch(
                    self.store,
                    WorkKeys(req.job.job_id),
                    req.kind,
                    req.batch,
                    self.embedder,
                    cache,
                    scratch,
                    progress,
                    describer=self.describer,
                    descriptions=descriptions,
                )

    @activity.defn(name="load_database")
    async def load_database(self, req: LoadRequest) -> LoadSummary:
        async with step_context(plans.LOAD_DATABASE, self.hold) as progress:
            async with scratch_dir(req.job.job_id, plans.LOAD_DATABASE) as scratch:
                return await load_database(
                    self.store,
                    WorkKeys(req.job.job_id),
                    await self.database.pool(),
                    site=req.job.site,
                    revision_id=req.revision_id,
                    job_id=req.job.job_id,
                    text_batches=req.text_batches,
                    media_batches=req.media_batches,
                    embedding=req.embedding,
                    scratch=scratch,
                    progress=progress,
                    switch=req.switch,
                    requested_at=parse_time(req.job.requested_at),
                    repo_url=req.job.repo_url,
                    dist_folder=req.job.dist_folder,
                    keep=self.settings.revisions_keep,
                    before_commit=self._injected_fault(plans.LOAD_DATABASE),
                    default_lang=self.settings.search_language,
                    output_key=req.output_key or None,
                )

    @activity.defn(name="build_artifacts")
    async def build_artifacts(self, req: BuildRequest) -> ArtifactSummary:
        async with step_context(plans.BUILD_ARTIFACTS, self.hold) as progress:
            async with scratch_dir(req.job.job_id, plans.BUILD_ARTIFACTS) as scratch:
                return await build_artifacts(
                    self.store,
                    WorkKeys(req.job.job_id),
                    site=req.job.site,
                    revision_id=req.revision_id,
                    text_batches=req.text_batches,
                    media_batches=req.media_batches,
                    embedding=req.embedding,
                    counts=req.counts,
                    created_at=req.created_at,
                    scratch=scratch,
                    progress=progress,
                    related=await self._related_posts(req),
                    output_key=req.output_key,
                    kind=req.kind,
                )

    async def _related_posts(self, req: BuildRequest) -> dict[str, list[dict[str, Any]]] | None:
        """posts.json's related posts, computed by the load (which runs before this step in
        every plan that embeds); None when the task has no database (parse-only)."""
        if req.embedding is None:
            return None
        async with (await self.database.pool()).acquire() as conn:
            return await related.loaded_revision_related(conn, req.job.site, req.revision_id)

    @activity.defn(name="publish_artifacts")
    async def publish_artifacts(self, req: PublishRequest) -> PublishSummary:
        async with step_context(plans.PUBLISH, self.hold) as progress:
            async with scratch_dir(req.job.job_id, plans.PUBLISH) as scratch:
                # Workflows started before publish carried the built files' digests send
                # names only; digests are then read back from the work store.
                files = req.artifacts or [
                    ArtifactFile(name=name, bytes=0, sha256="") for name in req.files
                ]
                return await publish_artifacts(
                    self.store,
                    WorkKeys(req.job.job_id),
                    await self.database.pool(),
                    site=req.job.site,
                    job_id=req.job.job_id,
                    dist_folder=req.job.dist_folder,
                    revision_id=req.revision_id,
                    output_key=req.output_key,
                    kind=req.kind,
                    files=files,
                    published_at=req.published_at,
                    scratch=scratch,
                    progress=progress,
                    update_latest=req.update_latest,
                    order=RevisionOrder.of(req.job.requested_at, req.job.job_id),
                    concurrency=self.settings.publish_concurrency,
                )

    @activity.defn(name="switch_revision")
    async def switch_revision(self, req: SwitchRequest) -> SwitchSummary:
        async with step_context(plans.SWITCH, self.hold) as progress:
            return await switch_revision(
                self.store,
                await self.database.pool(),
                site=req.job.site,
                dist_folder=req.job.dist_folder,
                revision_id=req.revision_id,
                order=RevisionOrder.of(req.job.requested_at, req.job.job_id),
                published_at=req.published_at,
                keep=self.settings.revisions_keep,
                progress=progress,
                before_commit=self._injected_fault(plans.SWITCH),
            )

    def _injected_fault(self, step: str) -> Callable[[], Awaitable[None]] | None:
        """PRESSROOM_FAULT_FAIL: a hook that fails `step` inside its transaction, for tests
        that prove a failed job changes nothing. None (no hook) unless configured."""
        if self.settings.fault_fail_step != step:
            return None

        async def fail() -> None:
            raise ApplicationError(
                f"injected fault in {step} (PRESSROOM_FAULT_FAIL)",
                type="InjectedFault",
                non_retryable=True,
            )

        return fail

    @activity.defn(name="send_callback")
    async def send_callback(self, req: CallbackRequest) -> int:
        url = self._reveal(req.url, req.url_sealed)
        async with step_context(plans.CALLBACK, self.hold):
            secret = self.settings.webhook_secret
            # Same msg_id and body bytes on every attempt (both fixed in the activity input);
            # deliver() stamps and signs each attempt afresh.
            outcome = await webhooks.deliver(
                self.http,
                url,
                req.body.encode(),
                msg_id=req.msg_id,
                secret=secret.get_secret_value() if secret else None,
                timeout_s=self.settings.callback_timeout_seconds,
            )
            if outcome.ok:
                await faults.fault_point("callback:after-send")
        meter = activity.metric_meter()
        if outcome.ok:
            metrics.callback_attempt(meter, "delivered")
            return outcome.status or 0
        reason = f"callback to {redact_url(req.url)} failed: {outcome.error}"
        attempt = activity.info().attempt  # in the details: the job reports how many were made
        if not outcome.retryable:  # 410, other 4xx, 3xx, a refused URL: retrying cannot help
            metrics.callback_attempt(meter, "rejected")
            raise ApplicationError(reason, attempt, type="CallbackRejected", non_retryable=True)
        metrics.callback_attempt(meter, "retry")
        # Our own jittered backoff (Temporal's retry policy has no jitter), or Retry-After.
        delay = delivery.retry_delay(activity.info().attempt, outcome.retry_after)
        raise ApplicationError(
            reason,
            attempt,
            type="CallbackUndelivered",
            next_retry_delay=timedelta(seconds=delay),
        )

    def _reveal(self, url: str, sealed: str | None) -> str:
        """The job's URL with its credentials, unsealed here and never returned or logged."""
        try:
            return sealing.reveal(url, sealed, self.settings)
        except sealing.SealError as err:
            raise ApplicationError(str(err), type="SealError", non_retryable=True) from None

    @activity.defn(name="cleanup_work")
    async def cleanup_work(self, req: CleanupRequest) -> int:
        return await self.store.delete_prefix(WorkKeys(req.job_id).prefix)

    def all(self) -> list[object]:
        """The bound activity methods, for `Worker(activities=...)`."""
        return [
            self.fetch_source,
            self.parse_source,
            self.embed_batch,
            self.load_database,
            self.build_artifacts,
            self.publish_artifacts,
            self.switch_revision,
            self.send_callback,
            self.cleanup_work,
        ]

