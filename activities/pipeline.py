"""The Temporal activities: one per pipeline step, thin wrappers over `pressroom.steps`.

The worker builds one `PipelineActivities` with its clients (store, database, embedder, HTTP
session) passed in, and registers its bound methods. Each activity builds its step's env (a
scratch directory of its own, so concurrent activities on one worker never share files, and
heartbeats around it) and the step's request from the job, and calls the step.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
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
from pressroom.activities.heartbeat import step_context
from pressroom.workflows import plans
from temporalio import activity
from temporalio.exceptions import ApplicationError

from pressroom.callbacks import webhooks
from pressroom.config import Settings
from pressroom.content.thumbnails import THUMBNAIL_SPEC
from pressroom.db import related, sites
from pressroom.db.pool import Database
from pressroom.embeddings.base import Embedder
from pressroom.embeddings.cache import PostgresEmbeddingCache
from pressroom.embeddings.vision import DescriptionCache, make_describer
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
    ThumbnailCounts,
)
from pressroom.publish import layout as publication
from pressroom.publish.exports import EXPORT_SQL
from pressroom.publish.latest import parse_time
from pressroom.publish.media import MEDIA_PREFIX
from pressroom.runtime import faults, metrics
from pressroom.security import sealing
from pressroom.security.redact import redact_url
from pressroom.sources import FetchOptions, SourceLimits
from pressroom.steps.artifacts import BuildInput, build_artifacts
from pressroom.steps.embed import EmbedInput, embed_batch, embedding_info
from pressroom.steps.env import DatabaseEnv, EmbedEnv, Hook, RevisionTarget, StepEnv
from pressroom.steps.fetch import FetchInput, fetch_source
from pressroom.steps.load import LoadInput, load_database
from pressroom.steps.parse import ParseInput, html_policy_for, parse_source
from pressroom.steps.publish import PublishInput, publish_artifacts
from pressroom.steps.retention import finish_work, refuse_purged
from pressroom.steps.switch import SwitchInput, switch_revision
from pressroom.steps.thumbnails import make_thumbnails
from pressroom.storage.base import Store
from pressroom.storage.workstore import WorkKeys


@asynccontextmanager
async def scratch_dir(job_id: str, step: str) -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"pressroom-{job_id[:40]}-{step}-") as tmp:
        yield Path(tmp)


def target(
    job: JobInput, revision_id: str, output_key: str = "", kind: str = "full"
) -> RevisionTarget:
    """The revision a job makes, as the steps name it."""
    return RevisionTarget(
        site=job.site,
        revision_id=revision_id,
        job_id=job.job_id,
        dist_folder=job.dist_folder,
        requested_at=parse_time(job.requested_at),
        output_key=output_key,
        kind=kind,
    )


def plan_of(job: JobInput) -> plans.TaskPlan:
    # The workflow refuses unknown tasks before any step runs.
    return plans.TASKS.get(job.task) or plans.TaskPlan()


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
        self.limits = SourceLimits(
            max_total_bytes=settings.max_source_bytes,
            max_files=settings.max_source_files,
            max_file_bytes=settings.max_file_bytes,
        )
        self.parsing = ParseInput(
            batch_size=settings.embed_batch_size,
            include_drafts=settings.include_drafts,
            max_post_bytes=settings.max_post_bytes,
            keep_images=self.describer is not None,
            processes=settings.parse_processes,
            html_policy=html_policy_for(settings),
        )

    async def aclose(self) -> None:
        """Release what this object created itself (the describer's own client, if any)."""
        if self.describer is not None:
            await self.describer.aclose()

    @asynccontextmanager
    async def _env(self, job_id: str, step: str) -> AsyncIterator[StepEnv]:
        """A step's env, inside timed heartbeats and error classification (`step_context`).
        A job whose work store the janitor purged runs no step again (WorkExpired)."""
        keys = WorkKeys(job_id)
        async with (
            step_context(step, self.hold) as progress,
            scratch_dir(job_id, step) as scratch,
        ):
            await refuse_purged(self.store, keys)
            yield StepEnv(
                store=self.store,
                keys=keys,
                scratch=scratch,
                progress=progress,
                http=self.http,
            )

    async def _with_database(self, env: StepEnv, step: str) -> DatabaseEnv:
        return DatabaseEnv(
            **vars(env), pool=await self.database.pool(), before_commit=self._injected_fault(step)
        )

    @activity.defn(name="fetch_source")
    async def fetch_source(self, req: StepRequest) -> SourceSummary:
        job = req.job
        async with self._env(job.job_id, plans.FETCH) as env:
            source = await fetch_source(
                FetchInput(
                    repo_url=self._reveal(job.repo_url, job.repo_url_sealed),
                    limits=self.limits,
                    client_revision=job.revision_id,
                    options=FetchOptions.from_settings(self.settings),
                ),
                env,
            )
            return await self._admit(job, source)

    def _build_options(self, job: JobInput) -> dict[str, object]:
        """The worker settings and job options that change what a revision's files hold."""
        options: dict[str, object] = {
            "profile": job.profile,
            "base_url": job.base_url,
            "media": job.publish_media,
            "drafts": self.settings.include_drafts,
            "sanitize": self.settings.sanitize_html,
            "iframes": sorted(self.settings.iframe_hosts) if self.settings.sanitize_html else [],
        }
        if job.exports:  # only then: earlier revisions keep their keys (and stay unchanged)
            options["exports"] = list(job.exports)
        if job.publish_media:
            # media.json then holds the media URLs (ARTIFACTS_PUBLIC_URL or the store's) and
            # preview keys that name the thumbnail spec.
            options["media_url"] = self.store.url_for(MEDIA_PREFIX)
            options["thumbnail_spec"] = THUMBNAIL_SPEC
        return options

    async def _admit(self, job: JobInput, source: SourceSummary) -> SourceSummary:
        """Name the revision by its output and check it may be published (before any work)."""
        plan = plan_of(job)
        kind = publication.KIND_FULL if plan.load_database else publication.KIND_PARSE
        key = publication.output_key(
            content_id=source.content_id,
            kind=kind,
            embedding=embedding_info(self.embedder),
            options=self._build_options(job),
            # A forced re-embed may give other vectors for the same input: a new revision.
            nonce=job.job_id if plan.refresh_embeddings else None,
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
            counts = None
            # Files the fetch left out must be reported by this job's parse step.
            if published and plan.load_database and not source.file_errors:
                counts = await sites.loaded_counts(conn, job.site, revision_id, key)
        return source.model_copy(
            update={
                "revision_id": revision_id,
                "output_key": key,
                "kind": kind,
                "already_published": published,
                "unchanged": counts is not None,
                "loaded_counts": counts or {},
            }
        )

    @activity.defn(name="parse_source")
    async def parse_source(self, req: StepRequest) -> ParseSummary:
        async with self._env(req.job.job_id, plans.PARSE) as env:
            parsing = self.parsing.for_job(req.job.profile, req.job.base_url)
            summary = await parse_source(parsing, env)
        return summary.model_copy(update={"embedding": embedding_info(self.embedder)})

    @activity.defn(name="embed_batch")
    async def embed_batch(self, req: EmbedRequest) -> EmbedSummary:
        info = embedding_info(self.embedder)
        if req.expected and req.expected != info:
            raise ApplicationError(
                f"this worker embeds with {info}, the job started with {req.expected}",
                type="EmbedderMismatch",
                non_retryable=True,
            )
        step = plans.EMBED_TEXT if req.kind == "text" else plans.EMBED_IMAGES
        async with self._env(req.job.job_id, step) as env:
            pool = await self.database.pool()
            embed_env = EmbedEnv(
                **vars(env),
                embedder=self.embedder,
                cache=PostgresEmbeddingCache(
                    pool,
                    info.provider,
                    info.model,
                    info.version,
                    info.dimensions,
                    refresh=plan_of(req.job).refresh_embeddings,
                ),
                describer=self.describer,
                descriptions=(
                    DescriptionCache(pool, self.describer.model) if self.describer else None
                ),
            )
            return await embed_batch(EmbedInput(kind=req.kind, batch=req.batch), embed_env)

    @activity.defn(name="make_thumbnails")
    async def make_thumbnails(self, req: StepRequest) -> ThumbnailCounts:
        async with self._env(req.job.job_id, plans.THUMBNAILS) as env:
            return await make_thumbnails(await self._with_database(env, plans.THUMBNAILS))

    @activity.defn(name="load_database")
    async def load_database(self, req: LoadRequest) -> LoadSummary:
        async with self._env(req.job.job_id, plans.LOAD_DATABASE) as env:
            load = LoadInput(
                target=target(req.job, req.revision_id, req.output_key),
                embedding=req.embedding,
                text_batches=req.text_batches,
                media_batches=req.media_batches,
                switch=req.switch,
                repo_url=req.job.repo_url,
                keep=self.settings.revisions_keep,
                default_lang=self.settings.search_language,
                publish_media=req.job.publish_media,
            )
            return await load_database(load, await self._with_database(env, plans.LOAD_DATABASE))

    @activity.defn(name="build_artifacts")
    async def build_artifacts(self, req: BuildRequest) -> ArtifactSummary:
        async with self._env(req.job.job_id, plans.BUILD_ARTIFACTS) as env:
            # Previews are made and looked up in Postgres; export.sql is read from it.
            if req.job.publish_media or EXPORT_SQL in req.job.exports:
                env = await self._with_database(env, plans.BUILD_ARTIFACTS)
            build = BuildInput(
                target=target(req.job, req.revision_id, req.output_key, req.kind),
                embedding=req.embedding,
                text_batches=req.text_batches,
                media_batches=req.media_batches,
                counts=req.counts,
                created_at=req.created_at,
                related=await self._related_posts(req),
                media=req.job.publish_media,
                exports=tuple(req.job.exports),
            )
            return await build_artifacts(build, env)

    async def _related_posts(self, req: BuildRequest) -> dict[str, list[dict[str, Any]]] | None:
        """posts.json's related posts, computed by the load (which runs before this step in
        every plan that embeds); None when the task has no database (parse-only)."""
        if req.embedding is None:
            return None
        async with (await self.database.pool()).acquire() as conn:
            return await related.loaded_revision_related(conn, req.job.site, req.revision_id)

    @activity.defn(name="publish_artifacts")
    async def publish_artifacts(self, req: PublishRequest) -> PublishSummary:
        async with self._env(req.job.job_id, plans.PUBLISH) as env:
            publish = PublishInput(
                target=target(req.job, req.revision_id, req.output_key, req.kind),
                # Workflows started before publish carried the built files' digests send
                # names only; digests are then read back from the work store.
                files=req.artifacts
                or [ArtifactFile(name=name, bytes=0, sha256="") for name in req.files],
                published_at=req.published_at,
                update_latest=req.update_latest,
                concurrency=self.settings.publish_concurrency,
                media=req.job.publish_media,
            )
            return await publish_artifacts(publish, await self._with_database(env, plans.PUBLISH))

    @activity.defn(name="switch_revision")
    async def switch_revision(self, req: SwitchRequest) -> SwitchSummary:
        async with self._env(req.job.job_id, plans.SWITCH) as env:
            switch = SwitchInput(
                target=target(req.job, req.revision_id),
                published_at=req.published_at,
                keep=self.settings.revisions_keep,
            )
            return await switch_revision(switch, await self._with_database(env, plans.SWITCH))

    def _injected_fault(self, step: str) -> Hook | None:
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
        delay = webhooks.retry_delay(
            attempt,
            outcome.retry_after,
            initial_s=plans.CALLBACK_INITIAL_S,
            max_s=plans.CALLBACK_MAX_INTERVAL_S,
        )
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
        """The job ended: keep its work store for WORK_RETENTION (marked for the janitor)
        or, with none, delete it. Returns the objects deleted."""
        return await finish_work(
            self.store,
            req.job_id,
            status=req.status,
            now=datetime.now(UTC),
            retention=self.settings.work_retention,
        )

    def all(self) -> list[object]:
        """The bound activity methods, for `Worker(activities=...)`."""
        return [
            self.fetch_source,
            self.parse_source,
            self.embed_batch,
            self.make_thumbnails,
            self.load_database,
            self.build_artifacts,
            self.publish_artifacts,
            self.switch_revision,
            self.send_callback,
            self.cleanup_work,
        ]
