"""The site registration contract: validating `PUT /sites/{site}` bodies, and the job request
a registered site's build is.

A registration holds what a `POST /process` body would (repoUrl, distFolder, callbackUrl,
task, the `data` options) plus what triggers need (branch, contentPaths, repository,
webhookSecret). It is checked by building the job request it stands for and running that
through `parse_job_request`, so a registered site's build meets exactly the contract and
limits of `POST /process`: a registration no job could be started from is a 400, at once.

`webhookSecret` is write-only: it is sealed with the URLs' credentials and never shown. A PUT
without the field keeps the secret the site had; `"webhookSecret": null` removes it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pressroom.api.requests import (
    BadRequest,
    JobRequest,
    check_tree,
    default_dist_folder,
    nearest_field,
    parse_job_request,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pressroom.config import Settings
from pressroom.db.registrations import Registration
from pressroom.publish.layout import reserved_reason
from pressroom.security import sealing
from pressroom.sources.errors import SourceError
from pressroom.sources.git import is_git_url, split_ref
from pressroom.triggers.matching import repository_key, valid_content_path

__all__ = [
    "SITE_NAME",
    "RegistrationRequest",
    "check_site_name",
    "job_body",
    "parse_registration",
]

# Shorter and plainer than a job's site id: it names a Temporal Schedule (`site-{site}`) and
# prefixes the ids of the jobs started for it, which must stay within a job id's 128.
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_CONTENT_PATHS = 100
OPTION_FIELDS = ("profile", "baseUrl", "publishMedia", "exports")
_PLACEHOLDER_JOB = "registration-check"


class SiteOptions(BaseModel):
    """The `data` fields of the site's jobs beyond the source (checked by the job contract)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    profile: str | None = None
    baseUrl: str | None = None
    publishMedia: bool | None = None
    exports: list[str] | None = None


class RegistrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    repoUrl: str = Field(min_length=1, max_length=4096)
    branch: str | None = Field(default=None, max_length=200)
    contentPaths: list[str] = Field(default_factory=list, max_length=MAX_CONTENT_PATHS)
    repository: str | None = Field(default=None, min_length=1, max_length=512)
    distFolder: str | None = None
    callbackUrl: str | None = None
    task: str = "process-all"
    options: SiteOptions = Field(default_factory=SiteOptions)
    webhookSecret: str | None = Field(default=None, min_length=16, max_length=256)

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            split_ref(f"x#{value}")
        except SourceError:
            raise ValueError(f"{value[:64]!r} is not a valid git branch name") from None
        return value

    @field_validator("contentPaths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for i, path in enumerate(value):
            if (reason := valid_content_path(path)) is not None:
                raise ValueError(f"[{i}] {reason}")
        return value

    @field_validator("webhookSecret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and (not value.isprintable() or value.strip() != value):
            raise ValueError("must be printable text without surrounding spaces")
        return value


REGISTRATION_FIELDS: tuple[str, ...] = tuple(RegistrationRequest.model_fields)


def check_site_name(site: str) -> None:
    """A 400 unless `site` can name a registered site."""
    if (reason := reserved_reason(site)) is not None:
        raise BadRequest(f"site: {reason}", field="site")
    if not SITE_NAME.fullmatch(site):
        raise BadRequest(
            "site: at most 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field="site",
        )


def _validated(body: Any) -> RegistrationRequest:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    check_tree(body)  # depth, lone surrogates, control characters in names: as for jobs
    for key in body:
        if key not in REGISTRATION_FIELDS:
            nearest = nearest_field(key, REGISTRATION_FIELDS)
            hint = f"; did you mean {nearest!r}?" if nearest else ""
            raise BadRequest(
                f"unknown field {key[:64]!r}{hint}",
                field=key[:64],
                knownFields=list(REGISTRATION_FIELDS),
            )
    try:
        return RegistrationRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BadRequest(f"{field}: {message}", field=field) from exc


def _job_field(field: str | None) -> str | None:
    """The registration field a job request's field comes from."""
    if field is None:
        return None
    name = field.removeprefix("data.")
    return f"options.{name}" if name in OPTION_FIELDS else name


def parse_registration(
    site: str, raw: bytes, settings: Settings, previous: Registration | None
) -> tuple[dict[str, Any], dict[str, str], str]:
    """(spec as shown, sealed parts, repository key) of a `PUT /sites/{site}` body, or a
    BadRequest naming the field. `previous` is the site's registration, whose webhook secret
    a body without `webhookSecret` keeps."""
    check_site_name(site)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    request = _validated(body)
    base, ref = request.repoUrl.partition("#")[0], request.repoUrl.partition("#")[2] or None
    if ref and request.branch and ref != request.branch:
        raise BadRequest(
            f"branch: {request.branch!r} differs from the repoUrl's #{ref}; name it once",
            field="branch",
        )
    branch = request.branch or ref
    repo_url = f"{base}#{branch}" if branch and is_git_url(request.repoUrl) else request.repoUrl
    options = request.options.model_dump(exclude_none=True)
    # The job contract decides the rest: a registration no job could be made from is a 400.
    try:
        parse_job_request(json.dumps(_body(site, repo_url, request, options)).encode())
    except BadRequest as err:
        raise BadRequest(err.message, field=_job_field(err.field), **err.extra) from None
    shown_repo, sealed_repo = sealing.split(repo_url, settings)
    shown_callback, sealed_callback = sealing.split(request.callbackUrl, settings)
    sealed = {"repoUrl": sealed_repo, "callbackUrl": sealed_callback}
    if "webhookSecret" in body:
        secret = request.webhookSecret
        sealed["webhookSecret"] = sealing.seal_secret(secret, settings) if secret else None
    elif previous is not None:
        sealed["webhookSecret"] = previous.sealed.get("webhookSecret")
    spec = {
        "repoUrl": shown_repo,
        "branch": branch,
        "contentPaths": request.contentPaths,
        "repository": request.repository,
        "distFolder": request.distFolder or default_dist_folder(site),
        "callbackUrl": shown_callback,
        "task": request.task,
        "options": options,
    }
    return spec, {k: v for k, v in sealed.items() if v}, _repository(request, base)


def _repository(request: RegistrationRequest, base: str) -> str:
    """The key push webhooks find the site by; "" for a source that names no repository (a
    local folder): such a site builds by name and on a schedule, never on push."""
    try:
        return repository_key(request.repository or base)
    except ValueError as err:
        if request.repository is None:
            return ""
        raise BadRequest(f"repository: {err}", field="repository") from None


def _body(
    site: str, repo_url: str, request: RegistrationRequest, options: dict[str, Any]
) -> dict[str, Any]:
    data: dict[str, Any] = {"repoUrl": repo_url, "site": site, **options}
    if request.distFolder is not None:
        data["distFolder"] = request.distFolder
    body: dict[str, Any] = {"jobId": _PLACEHOLDER_JOB, "task": request.task, "data": data}
    if request.callbackUrl is not None:
        body["callbackUrl"] = request.callbackUrl
    return body


def job_body(
    registration: Registration, job_id: str, settings: Settings, *, commit: str | None = None
) -> dict[str, Any]:
    """The `POST /process` body of a build of the registered site: its source (at `commit`
    when a push names one and the source is git), folder, task, options and callback."""
    spec = registration.spec
    try:
        return _job_body(registration, spec, job_id, settings, commit)
    except sealing.SealError:
        raise BadRequest(
            f"site {registration.site!r}: its sealed URL credentials cannot be opened with this "
            "PRESSROOM_SECRETS_KEY; register the site again (PUT /sites/{site})",
            field="repoUrl",
        ) from None


def _job_body(
    registration: Registration,
    spec: dict[str, Any],
    job_id: str,
    settings: Settings,
    commit: str | None,
) -> dict[str, Any]:
    repo_url = sealing.reveal(spec["repoUrl"], registration.sealed.get("repoUrl"), settings)
    if commit is not None and is_git_url(repo_url):
        repo_url = f"{repo_url.partition('#')[0]}#{commit}"
    data = {
        "repoUrl": repo_url,
        "site": registration.site,
        "distFolder": spec["distFolder"],
        **spec.get("options", {}),
    }
    body: dict[str, Any] = {"jobId": job_id, "task": spec["task"], "data": data}
    if spec.get("callbackUrl"):
        body["callbackUrl"] = sealing.reveal(
            spec["callbackUrl"], registration.sealed.get("callbackUrl"), settings
        )
    return body


def job_request(body: dict[str, Any]) -> tuple[JobRequest, dict[str, Any]]:
    """A registered site's job body through the contract `POST /process` applies."""
    return parse_job_request(json.dumps(body).encode())
