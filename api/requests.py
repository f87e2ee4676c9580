"""The job request contract: validation of `POST /process` bodies and their workflow input.

Field names follow the existing clients (`jobId`, `task`, `data.repoUrl`, `data.distFolder`,
`callbackUrl`). Every identifier that becomes a workflow id, storage key or path is checked
against a safe character set here, so nothing downstream has to trust it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
        if value.startswith("/") or not parts or not all(_SAFE_SEGMENT.match(p) for p in parts):
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
    return JobInput(
        job_id=request.jobId,
        task=request.task,
        repo_url=data.repoUrl,
        dist_folder=data.distFolder,
        site=data.site or default_site(data.repoUrl),
        revision_id=data.revisionId,
        callback_url=request.callbackUrl,
        request_sha256=request_fingerprint(body),
        heartbeat_seconds=settings.activity_heartbeat_seconds,
        embed_concurrency=settings.embed_concurrency,
    )
