"""Inputs of the activities: small pydantic models that carry references, never bodies."""

from __future__ import annotations

from pydantic import BaseModel

from pressroom.models import ArtifactFile, EmbeddingInfo, JobInput


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
    # False: load the revision without making it current (the switch step does, after
    # publishing). True keeps the behaviour of workflows started before that step existed.
    switch: bool = True
    output_key: str = ""  # the revision's output identity (pressroom/publication.py)


class BuildRequest(BaseModel):
    job: JobInput
    revision_id: str
    text_batches: int
    media_batches: int
    embedding: EmbeddingInfo | None  # None: no vectors in search.json (parse-only)
    counts: dict[str, int]
    created_at: str
    output_key: str = ""
    kind: str = "full"


class PublishRequest(BaseModel):
    job: JobInput
    revision_id: str
    files: list[str]
    published_at: str
    update_latest: bool = True  # False: the switch step writes latest.json
    output_key: str = ""
    kind: str = "full"
    artifacts: list[ArtifactFile] = []  # what the build made (names, bytes, sha256)


class SwitchRequest(BaseModel):
    job: JobInput
    revision_id: str
    published_at: str


class CallbackRequest(BaseModel):
    job_id: str
    url: str  # redacted when the URL carries credentials; then url_sealed holds the original
    url_sealed: str | None = None
    msg_id: str
    body: str  # the exact JSON bytes (UTF-8) sent on every attempt


class CleanupRequest(BaseModel):
    job_id: str
