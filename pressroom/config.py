"""Typed configuration from environment variables (pydantic-settings).

Every variable has a safe default so the embedded stack runs with none set. The README's
configuration table mirrors this class; `tests/test_config_docs.py` keeps them in sync.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    # Postgres; unset means the embedded pgserver under state_dir/pgdata.
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")

    # Artifacts and the work store; unset means the local directory state_dir/artifacts.
    artifacts_url: str | None = Field(default=None, alias="ARTIFACTS_URL")

    # Embeddings
    embedding_provider: str = Field(default="hashing", alias="EMBEDDING_PROVIDER")
    embedding_model: str = Field(default="hashing-v1", alias="EMBEDDING_MODEL")
    embedding_dimensions: int = Field(default=384, alias="EMBEDDING_DIMENSIONS", ge=8, le=4096)
    embed_batch_size: int = Field(default=512, alias="EMBED_BATCH_SIZE", ge=1, le=10_000)

    # Source limits
    max_source_bytes: int = Field(default=512 * 1024 * 1024, alias="MAX_SOURCE_BYTES")
    max_source_files: int = Field(default=50_000, alias="MAX_SOURCE_FILES")
    max_file_bytes: int = Field(default=64 * 1024 * 1024, alias="MAX_FILE_BYTES")
    include_drafts: bool = Field(default=False, alias="INCLUDE_DRAFTS")

    # Callbacks
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")

    # Worker
    worker_max_activities: int = Field(default=8, alias="WORKER_MAX_ACTIVITIES", ge=1)
    activity_heartbeat_seconds: int = Field(default=60, alias="ACTIVITY_HEARTBEAT_SECONDS", ge=2)
    embed_concurrency: int = Field(default=4, alias="EMBED_CONCURRENCY", ge=1, le=64)

    # Fault injection for crash drills and tests: hold this step forever (heartbeating) in
    # this worker, so the worker can be killed mid-step. Never set in production.
    fault_hold_step: str | None = Field(default=None, alias="PRESSROOM_FAULT_HOLD")

    # API
    api_host: str = Field(default="127.0.0.1", alias="API_HOST")
    api_port: int = Field(default=8080, alias="API_PORT")

    @property
    def artifacts_location(self) -> str:
        """The artifact store URL: `ARTIFACTS_URL` or the local directory under state_dir."""
        if self.artifacts_url:
            return self.artifacts_url
        return str((self.state_dir / "artifacts").resolve())

    @property
    def pgdata_dir(self) -> Path:
        return (self.state_dir / "pgdata").resolve()
