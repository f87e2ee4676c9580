"""Inputs of the activities: small pydantic models that carry references, never bodies."""

from __future__ import annotations

from pydantic import BaseModel

from pressroom.models import EmbeddingInfo, JobInput


class StepRequest(BaseModel):
    job: JobInput


class EmbedRequest(BaseModel):
    job: JobInput
    kind: str  # "text" | "media"
    batch: int
    expected: EmbeddingInfo | None = None  # what the parse step saw; a mismatch is refused


class LoadRequest(BaseModel):
    job: JobInput
    revision_id: str
    text_batches: int
    media_batches: int
    embedding: EmbeddingInfo


class BuildRequest(BaseModel):
    job: JobInput
    revision_id: str
    text_batches: int
    media_batches: int
    embedding: EmbeddingInfo | None  # None: no vectors in search.json (parse-only)
    counts: dict[str, int]
    created_at: str


class PublishRequest(BaseModel):
    job: JobInput
    revision_id: str
    files: list[str]
    published_at: str


class CallbackRequest(BaseModel):
    job_id: str
    url: str
    msg_id: str
    body: str  # the exact JSON bytes (UTF-8) sent on every attempt


class CleanupRequest(BaseModel):
    job_id: str
