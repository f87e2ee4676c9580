"""Typed configuration from environment variables (pydantic-settings).

Every variable has a safe default so the embedded stack runs with none set. The README's
configuration table mirrors this class; `tests/unit/test_config_docs.py` keeps them in sync.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pressroom.durations import parse_duration

__all__ = ["DEFAULT_IFRAME_HOSTS", "Settings"]

# Video hosts whose players blogs embed (IFRAME_HOSTS); pressroom.markdown's default too.
DEFAULT_IFRAME_HOSTS = (
    "www.youtube-nocookie.com",
    "youtube-nocookie.com",
    "www.youtube.com",
    "youtube.com",
    "player.vimeo.com",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    # Where the embedded stack keeps its state (Temporal SQLite file, Postgres data, artifacts).
    state_dir: Path = Field(default=Path(".pressroom"), alias="PRESSROOM_STATE_DIR")

    # Temporal
    temporal_address: str = Field(default="localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="pressroom", alias="TEMPORAL_TASK_QUEUE")
    temporal_api_key: SecretStr | None = Field(default=None, alias="TEMPORAL_API_KEY")
    temporal_tls: bool = Field(default=False, alias="TEMPORAL_TLS")
    temporal_ui_url: str = Field(default="http://localhost:8233", alias="TEMPORAL_UI_URL")
    # mTLS client certificate and key (PEM files), and a private CA for self-hosted clusters;
    # any of them implies TLS.
    temporal_tls_cert: Path | None = Field(default=None, alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: Path | None = Field(default=None, alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: Path | None = Field(default=None, alias="TEMPORAL_TLS_CA")

    # Postgres; unset means the embedded pgserver under state_dir/pgdata.
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")

    # Artifacts and the work store; unset means the local directory state_dir/artifacts.
    artifacts_url: str | None = Field(default=None, alias="ARTIFACTS_URL")
    # Public base URL of the published files (a CDN or an R2 public bucket), used in results.
    artifacts_public_url: str | None = Field(default=None, alias="ARTIFACTS_PUBLIC_URL")
    publish_concurrency: int = Field(default=8, alias="PUBLISH_CONCURRENCY", ge=1, le=64)

    # S3-compatible storage (AWS S3, Cloudflare R2, MinIO): s3:// artifact stores and sources.
    # Unset credentials mean boto's own chain (env, shared config, instance role).
    s3_endpoint_url: str | None = Field(default=None, alias="S3_ENDPOINT_URL")
    s3_region: str = Field(default="us-east-1", alias="S3_REGION")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", alias="S3_ADDRESSING_STYLE"
    )
    aws_access_key_id: SecretStr | None = Field(default=None, alias="AWS_ACCESS_KEY_ID")
    aws_secret_access_key: SecretStr | None = Field(default=None, alias="AWS_SECRET_ACCESS_KEY")
    # S3 refuses multipart parts under 5 MiB (except the last one).
    s3_multipart_threshold: int = Field(
        default=16 * 1024 * 1024, alias="S3_MULTIPART_THRESHOLD", ge=5 * 1024 * 1024
    )

    # Outbound network policy (pressroom/netguard.py): hosts, IPs or CIDRs that callbacks and
    # remote sources may reach even though they are not public. Empty in production.
    network_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="NETWORK_ALLOWLIST"
    )
    # Local sources (paths, file://, file:// git) must resolve under one of these directories;
    # empty: any local path (development). git over file:// needs at least one root.
    source_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, alias="SOURCE_ROOTS"
    )
    # Which local sources (paths, file://, git over file://) a job may read: `any` (under
    # SOURCE_ROOTS when set, else anywhere: development), `roots` (only under SOURCE_ROOTS;
    # none set: no local source), `off` (none), `auto`: `roots` when API_TOKENS is set (a
    # shared deployment), else `any`. See `resolved_local_sources`.
    local_sources: Literal["auto", "any", "roots", "off"] = Field(
        default="auto", alias="LOCAL_SOURCES"
    )
    # Buckets that s3:// sources may name; empty: s3:// sources are refused.
    source_s3_buckets: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="SOURCE_S3_BUCKETS"
    )
    # Time limit of one remote fetch (archive download, git clone, s3 download).
    source_fetch_timeout_seconds: int = Field(
        default=300, alias="SOURCE_FETCH_TIMEOUT_SECONDS", ge=1
    )

    # Embeddings
    # "auto": OpenAI when OPENAI_API_KEY or OPENAI_BASE_URL is set, else the local hashing
    # embedder; see `resolved_embedding_provider`.
    embedding_provider: str = Field(default="auto", alias="EMBEDDING_PROVIDER")
    # Unset: the provider's default model (hashing-v1, text-embedding-3-small).
    embedding_model: str | None = Field(default=None, alias="EMBEDDING_MODEL")
    embedding_dimensions: int = Field(default=384, alias="EMBEDDING_DIMENSIONS", ge=8, le=4096)

    # OpenAI-compatible embeddings and image descriptions (OpenAI, Ollama, vLLM, TEI, ...)
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    openai_timeout_seconds: float = Field(default=60.0, alias="OPENAI_TIMEOUT_SECONDS", gt=0)
    vision_model: str = Field(default="gpt-4o-mini", alias="VISION_MODEL")
    # Unset: on when the embedding provider is OpenAI-compatible, off otherwise.
    image_descriptions: bool | None = Field(default=None, alias="IMAGE_DESCRIPTIONS")
    embed_batch_size: int = Field(default=512, alias="EMBED_BATCH_SIZE", ge=1, le=10_000)
    # Requests in flight to the provider (embeddings and image descriptions, per model) across
    # every worker of the task queue: the window grows to this until the provider's rate-limit
    # headers or a 429 say stop (pressroom/embeddings/limiter.py).
    provider_max_in_flight: int = Field(default=32, alias="PROVIDER_MAX_IN_FLIGHT", ge=1, le=1024)

    # Source limits
    max_source_bytes: int = Field(default=512 * 1024 * 1024, alias="MAX_SOURCE_BYTES")
    max_source_files: int = Field(default=50_000, alias="MAX_SOURCE_FILES")
    max_file_bytes: int = Field(default=64 * 1024 * 1024, alias="MAX_FILE_BYTES")
    # A post file over this size is a per-post error (the parser never reads it); the
    # source-wide MAX_FILE_BYTES still refuses the whole job above its own limit.
    max_post_bytes: int = Field(default=8 * 1024 * 1024, alias="MAX_POST_BYTES", ge=1)
    include_drafts: bool = Field(default=False, alias="INCLUDE_DRAFTS")
    # The generator whose URL and date rules apply when a job names none; unset: detected.
    site_profile: (
        Literal["jekyll", "hugo", "zola", "astro", "docusaurus", "eleventy", "mkdocs", "plain"]
        | None
    ) = Field(default=None, alias="SITE_PROFILE")
    # Optional artifacts every job publishes unless it names its own (`data.exports`):
    # `search.db` (SQLite, FTS5 + sqlite-vec) and `export.sql` (the rows for a plain Postgres).
    exports: Annotated[list[str], NoDecode] = Field(default_factory=list, alias="EXPORTS")
    # Copy every image (and its thumbnail) to `media/{sha256}.{ext}` in the artifact store.
    publish_media: bool = Field(default=False, alias="PUBLISH_MEDIA")
    # Post HTML is cleaned with nh3 (Ammonia) under a blog allowlist; false keeps it verbatim
    # (scripts included): only for a trusted single-owner site.
    sanitize_html: bool = Field(default=True, alias="SANITIZE_HTML")
    # Hosts an <iframe> in a post may load (https only); others lose their src.
    iframe_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_IFRAME_HOSTS), alias="IFRAME_HOSTS"
    )
    # Child processes the parse step uses for a large repository (2,000+ posts); 1: parse
    # in the worker process only. Each child holds ~50 MB while the step runs.
    parse_processes: int = Field(default=2, alias="PARSE_PROCESSES", ge=1, le=32)

    # Callbacks
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")

    # Worker
    worker_max_activities: int = Field(default=8, alias="WORKER_MAX_ACTIVITIES", ge=1)
    activity_heartbeat_seconds: int = Field(default=60, alias="ACTIVITY_HEARTBEAT_SECONDS", ge=2)
    embed_concurrency: int = Field(default=4, alias="EMBED_CONCURRENCY", ge=1, le=64)
    # How long a job's next workflow task waits for this worker (which has the job cached)
    # before any worker may take it: the failover delay when this worker dies mid-job.
    worker_sticky_timeout_seconds: float = Field(
        default=10, alias="WORKER_STICKY_TIMEOUT_SECONDS", gt=0
    )

    # Fault injection for crash drills and tests: hold this step forever (heartbeating) in
    # this worker, so the worker can be killed mid-step. Never set in production.
    fault_hold_step: str | None = Field(default=None, alias="PRESSROOM_FAULT_HOLD")
    # With a hold armed, the hold ends once this file exists (see pressroom/faults.py).
    fault_release_file: Path | None = Field(default=None, alias="PRESSROOM_FAULT_RELEASE")
    # Fault injection for tests: this step fails (non-retryable) inside its transaction,
    # just before it would commit: `load-database` or `switch-revision`. Never in production.
    fault_fail_step: str | None = Field(default=None, alias="PRESSROOM_FAULT_FAIL")

    # How long a finished job's work store (`_work/{jobId}/`) stays, so `temporal workflow
    # reset` can re-run any of its steps; then the janitor purges it. 0: a completed or
    # cancelled job's is deleted when it ends (a failed job's at the janitor's next run).
    work_retention: timedelta = Field(default=timedelta(days=7), alias="WORK_RETENTION")
    # How often the janitor (a Temporal Schedule the worker creates for its task queue)
    # purges expired work stores; 0: no janitor schedule (the worker deletes it).
    janitor_interval: timedelta = Field(default=timedelta(hours=1), alias="JANITOR_INTERVAL")

    # Revisions of a site kept in Postgres, the current one included; older ones are pruned
    # after each successful switch.
    revisions_keep: int = Field(default=3, alias="REVISIONS_KEEP", ge=1)

    # API
    api_host: str = Field(default="127.0.0.1", alias="API_HOST")
    api_port: int = Field(default=8080, alias="API_PORT")
    # Bearer tokens the API accepts, comma-separated; unset: auth off (a startup warning says so).
    api_tokens: SecretStr | None = Field(default=None, alias="API_TOKENS")
    api_max_body_bytes: int = Field(default=1024 * 1024, alias="API_MAX_BODY_BYTES", ge=1024)

    # Search (pressroom/search/fusion.py): reciprocal rank fusion k and per-list weights; the
    # text-search language of posts without `lang` front matter (a PostgreSQL configuration
    # name or an ISO 639-1 code); the cosine a vector-only image hit needs.
    search_rrf_k: int = Field(default=60, alias="SEARCH_RRF_K", ge=1, le=10_000)
    search_text_weight: float = Field(default=1.0, alias="SEARCH_TEXT_WEIGHT", ge=0, le=100)
    search_vector_weight: float = Field(default=1.0, alias="SEARCH_VECTOR_WEIGHT", ge=0, le=100)
    search_language: str = Field(default="english", alias="SEARCH_LANGUAGE")
    search_image_min_similarity: float = Field(
        default=0.2, alias="SEARCH_IMAGE_MIN_SIMILARITY", ge=-1, le=1
    )
    # The API's answer cache (pressroom/search/answer_cache.py), per process, LRU within both
    # bounds; either at 0 turns it off. And how long clients may reuse a search answer
    # without asking again (`Cache-Control: max-age`): it changes at the next switch.
    search_cache_entries: int = Field(default=10_000, alias="SEARCH_CACHE_ENTRIES", ge=0)
    search_cache_bytes: int = Field(default=64 * 1024 * 1024, alias="SEARCH_CACHE_BYTES", ge=0)
    search_max_age_seconds: int = Field(
        default=5, alias="SEARCH_MAX_AGE_SECONDS", ge=0, le=24 * 3600
    )

    # Callback delivery: retried with jittered backoff for this long, each attempt time-boxed.
    callback_retry_window_seconds: int = Field(
        default=24 * 3600, alias="CALLBACK_RETRY_WINDOW_SECONDS", ge=1
    )
    callback_timeout_seconds: float = Field(
        default=20, alias="CALLBACK_TIMEOUT_SECONDS", gt=0, le=30
    )

    # Seals credentials found in repoUrl/callbackUrl so they never land in workflow history
    # (pressroom/secrets.py). Unset: a key file under state_dir, created on first use.
    secrets_key: SecretStr | None = Field(default=None, alias="PRESSROOM_SECRETS_KEY")

    # Operations
    log_format: str = Field(default="text", alias="LOG_FORMAT", pattern="^(json|text)$")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    metrics_host: str = Field(default="127.0.0.1", alias="METRICS_HOST")
    # Worker Prometheus endpoint (Temporal SDK + Pressroom metrics); unset: no endpoint.
    metrics_port: int | None = Field(default=None, alias="METRICS_PORT", ge=1, le=65535)
    worker_shutdown_grace_seconds: float = Field(
        default=30, alias="WORKER_SHUTDOWN_GRACE_SECONDS", ge=0
    )

    @field_validator(
        "network_allowlist",
        "source_roots",
        "source_s3_buckets",
        "iframe_hosts",
        "exports",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        # The environment gives "a, b,c"; Python callers may pass a list directly.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("work_retention", "janitor_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        # `7d`, `12h`, `90s`, `0`: the spellings every Pressroom duration takes.
        if isinstance(value, str):
            return parse_duration(value)
        return value

    @field_validator("work_retention", "janitor_interval")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("a duration cannot be negative")
        return value

    @field_validator("exports")
    @classmethod
    def _exports(cls, value: list[str]) -> list[str]:
        from pressroom.publish.exports import export_problem  # config stays import-light

        if (problem := export_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @property
    def resolved_embedding_provider(self) -> str:
        """`EMBEDDING_PROVIDER`, with `auto` (the default) resolved: `openai` when an OpenAI
        key or base URL is configured, else `hashing`."""
        provider = self.embedding_provider.strip().lower()
        if provider in ("", "auto"):
            return "openai" if self.openai_api_key or self.openai_base_url else "hashing"
        return provider

    @property
    def resolved_local_sources(self) -> Literal["any", "roots", "off"]:
        """`LOCAL_SOURCES`, with `auto` (the default) resolved: `roots` when API_TOKENS is set
        (anyone holding a token must not read the worker's disk), else `any`."""
        if self.local_sources != "auto":
            return self.local_sources
        tokens = self.api_tokens.get_secret_value().strip(" ,") if self.api_tokens else ""
        return "roots" if tokens else "any"

    @property
    def image_descriptions_enabled(self) -> bool:
        """`IMAGE_DESCRIPTIONS`, or by default: on exactly when embeddings use OpenAI."""
        if self.image_descriptions is not None:
            return self.image_descriptions
        return self.resolved_embedding_provider == "openai"

    @property
    def artifacts_location(self) -> str:
        """The artifact store URL: `ARTIFACTS_URL` or the local directory under state_dir."""
        if self.artifacts_url:
            return self.artifacts_url
        return str((self.state_dir / "artifacts").resolve())

    @property
    def pgdata_dir(self) -> Path:
        return (self.state_dir / "pgdata").resolve()
