"""Inputs of the activities: small pydantic models that carry references, never bodies.

One model per activity; `of(...)` builds one from the job and the earlier steps' summaries.
Fields are only ever added, with defaults, so the inputs of recorded histories still decode.
"""

from __future__ import annotations

from pydantic import BaseModel

from pressroom.models import (
    ArtifactFile,
    ArtifactSummary,
    EmbeddingInfo,
    JobInput,
    ParseSummary,
    SourceSummary,
)


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

    @classmethod
    def of(
        cls,
        job: JobInput,
        source: SourceSummary,
        parsed: ParseSummary,
        embedding: EmbeddingInfo,
        *,
        switch: bool,
    ) -> LoadRequest:
        return cls(
            job=job,
            revision_id=source.revision_id,
            text_batches=parsed.text_batches,
            media_batches=parsed.media_batches,
            embedding=embedding,
            switch=switch,
            output_key=source.output_key,
        )


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

    @classmethod
    def of(
        cls,
        job: JobInput,
        source: SourceSummary,
        parsed: ParseSummary,
        embedding: EmbeddingInfo | None,
        *,
        counts: dict[str, int],
        created_at: str,
    ) -> BuildRequest:
        """Without an embedding the build reads no vector batches."""
        return cls(
            job=job,
            revision_id=source.revision_id,
            text_batches=parsed.text_batches if embedding else 0,
            media_batches=parsed.media_batches if embedding else 0,
            embedding=embedding,
            counts=counts,
            created_at=created_at,
            output_key=source.output_key,
            kind=source.kind,
        )


class PublishRequest(BaseModel):
    job: JobInput
    revision_id: str
    files: list[str]
    published_at: str
    update_latest: bool = True  # False: the switch step writes latest.json
    output_key: str = ""
    kind: str = "full"
    artifacts: list[ArtifactFile] = []  # what the build made (names, bytes, sha256)

    @classmethod
    def of(
        cls,
        job: JobInput,
        source: SourceSummary,
        built: ArtifactSummary,
        *,
        published_at: str,
        update_latest: bool,
    ) -> PublishRequest:
        return cls(
            job=job,
            revision_id=source.revision_id,
            files=[f.name for f in built.files],
            published_at=published_at,
            update_latest=update_latest,
            output_key=source.output_key,
            kind=source.kind,
            artifacts=built.files,
        )


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
    # How the job ended: a failed job's work store is always kept (marked) for a reset.
    # Runs from before the field existed only cleaned up completed or cancelled jobs.
    status: str = "completed"
