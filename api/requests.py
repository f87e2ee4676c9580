"""The job request contract: validation of `POST /process` bodies and their workflow input.

Field names follow the existing clients (`jobId`, `task`, `data.repoUrl`, `data.distFolder`,
`callbackUrl`). Every identifier that becomes a workflow id, storage key or path is checked
against a safe character set here, so nothing downstream has to trust it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pressroom import revisions, sealing
from pressroom.config import Settings
from pressroom.models import JobInput
from workflows.plans import KNOWN_TASKS

SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BadRequest(Exception):
    """A 400: `field` names the offending field (dotted path) when there is one."""

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.field:
            out["field"] = self.field
        out.update(self.extra)
        return out


class JobData(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    repoUrl: str = Field(min_length=1, max_length=4096)
    distFolder: str = Field(default="dist", min_length=1, max_length=256)
    site: str | None = Field(default=None, pattern=SAFE_ID)
    revisionId: str | None = Field(default=None, pattern=SAFE_ID)

    @field_validator("distFolder")
    @classmethod
    def _dist_folder(cls, value: str) -> str:
        parts = PurePosixPath(value).parts
        # Normalised form only: `a//b` or `a/./b` would be other keys in an object store.
        normal = "/".join(parts) == value.rstrip("/")
        safe = all(_SAFE_SEGMENT.fullmatch(p) for p in parts)
        if value.startswith("/") or not parts or not safe or not normal:
            raise ValueError("must be a relative path of safe segments (no '..', no leading '/')")
        return value

    @field_validator("repoUrl")
    @classmethod
    def _repo_url(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL")
        return value


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    jobId: str = Field(pattern=SAFE_ID)
    task: str = Field(min_length=1, max_length=64)
    data: JobData
    callbackUrl: str | None = Field(default=None, max_length=4096)

    @field_validator("callbackUrl")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value


def parse_job_request(raw: bytes) -> tuple[JobRequest, dict[str, Any]]:
    """Validate a request body; raises BadRequest naming the first offending field."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        request = JobRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadRequest(f"{field}: {first['msg']}", field=field) from exc
    if request.task not in KNOWN_TASKS:
        raise BadRequest(
            f"unknown task {request.task!r}",
            field="task",
            knownTasks=list(KNOWN_TASKS),
        )
    return request, body


def request_fingerprint(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON body: the same job posted twice has the same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def default_site(repo_url: str) -> str:
    """A site id from the source name: `/x/jekyll-docs.tar.gz` -> `jekyll-docs`."""
    name = repo_url.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip", ".git"):
        name = name.removesuffix(suffix)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:64]
    return name or "default"


def job_input(request: JobRequest, body: dict[str, Any], settings: Settings) -> JobInput:
    data = request.data
    # URL credentials are sealed, never put in the workflow input as is (pressroom/sealing.py).
    repo_url, repo_sealed = sealing.split(data.repoUrl, settings)
    callback_url, callback_sealed = sealing.split(request.callbackUrl, settings)
    return JobInput(
        job_id=request.jobId,
        task=request.task,
        repo_url=repo_url or data.repoUrl,
        repo_url_sealed=repo_sealed,
        dist_folder=data.distFolder,
        site=data.site or default_site(repo_url or data.repoUrl),
        revision_id=data.revisionId,
        callback_url=callback_url,
        callback_url_sealed=callback_sealed,
        callback_window_seconds=settings.callback_retry_window_seconds,
        request_sha256=request_fingerprint(body),
        heartbeat_seconds=settings.activity_heartbeat_seconds,
        embed_concurrency=settings.embed_concurrency,
        # Orders a site's revisions: of two jobs for one site, the later request wins.
        requested_at=revisions.iso(datetime.now(UTC)),
    )
