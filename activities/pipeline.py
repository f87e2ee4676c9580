"""The Temporal activities: one per pipeline step, thin wrappers over `pressroom.steps`.

The worker builds one `PipelineActivities` with its clients (store, database, embedder, HTTP
session) passed in, and registers its bound methods. Each activity works in a scratch
directory of its own, so concurrent activities on one worker never share files.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

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
)
from activities.heartbeat import step_context
from pressroom import webhooks
from pressroom.config import Settings
from pressroom.db_pool import Database
from pressroom.embeddings.base import Embedder
from pressroom.embeddings.cache import PostgresEmbeddingCache
from pressroom.models import (
    ArtifactSummary,
    EmbedSummary,
    LoadSummary,
    ParseSummary,
    PublishSummary,
    SourceSummary,
)
from pressroom.sources import SourceLimits, redact_url
from pressroom.steps.artifacts import build_artifacts
from pressroom.steps.embed import embed_batch, embedding_info
from pressroom.steps.fetch import fetch_source
from pressroom.steps.load import load_database
from pressroom.steps.parse import parse_source
from pressroom.steps.publish import publish_artifacts
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
        self.hold = settings.fault_hold_step

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
                return await fetch_source(
                    self.store,
                    WorkKeys(job.job_id),
                    job.repo_url,
                    limits,
                    scratch,
                    job.revision_id,
                    progress,
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
            await self.database.pool(), info.provider, info.model, info.version, info.dimensions
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
                )

    @activity.defn(name="publish_artifacts")
    async def publish_artifacts(self, req: PublishRequest) -> PublishSummary:
        async with step_context(plans.PUBLISH, self.hold) as progress:
            async with scratch_dir(req.job.job_id, plans.PUBLISH) as scratch:
                return await publish_artifacts(
                    self.store,
                    WorkKeys(req.job.job_id),
                    site=req.job.site,
                    dist_folder=req.job.dist_folder,
                    revision_id=req.revision_id,
                    files=req.files,
                    published_at=req.published_at,
                    scratch=scratch,
                    progress=progress,
                )

    @activity.defn(name="send_callback")
    async def send_callback(self, req: CallbackRequest) -> int:
        async with step_context(plans.CALLBACK, self.hold):
            secret = self.settings.webhook_secret
            outcome = await webhooks.deliver(
                self.http,
                req.url,
                req.body.encode(),
                msg_id=req.msg_id,
                secret=secret.get_secret_value() if secret else None,
            )
        if outcome.ok:
            return outcome.status or 0
        reason = f"callback to {redact_url(req.url)} failed: {outcome.error}"
        if not outcome.retryable:
            raise ApplicationError(reason, type="CallbackRejected", non_retryable=True)
        raise ApplicationError(
            reason,
            type="CallbackUndelivered",
            next_retry_delay=_seconds(outcome.retry_after),
        )

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
            self.send_callback,
            self.cleanup_work,
        ]


def _seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value else None
