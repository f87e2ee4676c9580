"""The job request contract: validation of `POST /process` bodies and their workflow input.

Field names follow the existing clients (`jobId`, `task`, `data.repoUrl`, `data.distFolder`,
`callbackUrl`). Every identifier that becomes a workflow id, storage key or path is checked
against a safe character set here, so nothing downstream has to trust it, and against the
names the published layout reserves (`pressroom.publication.reserved_reason`).

Every malformed body is a `BadRequest` (a JSON 400) naming the problem: invalid UTF-8 or
JSON, nesting deeper than `MAX_JSON_DEPTH`, a number literal longer than `MAX_NUMBER_CHARS`
(or NaN/Infinity), a lone surrogate, a wrong type, an unknown top-level field (with the
nearest known one). Unknown fields inside `data` are accepted, since older clients send
more, and reported back as `ignored`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from pressroom.workflows.plans import KNOWN_TASKS, TASKS
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pressroom.config import Settings
from pressroom.conventions.names import PROFILE_NAMES
from pressroom.models import JobInput, JobTrigger
from pressroom.publish import latest as revisions
from pressroom.publish.exports import EXPORT_NAMES, NEEDS_DATABASE, export_problem, exports_for
from pressroom.publish.layout import reserved_reason
from pressroom.security import sealing

SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# A job body is 2-3 levels deep; 32 leaves old clients' extra `data` fields room while
# keeping json.loads (recursive in C) and pydantic far from the interpreter's recursion limit.
MAX_JSON_DEPTH = 32
# No field of the contract is a number; old clients' extra fields may hold ids or
# timestamps. 100 characters fits any of those and stays far below int()'s 4300-digit limit.
MAX_NUMBER_CHARS = 100
# At most this many ignored `data` fields are named (each cut to 64 characters): the list
# travels in the 202 answer and the workflow input, which must stay small (claim check).
MAX_IGNORED_LISTED = 20
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def _no_reserved(value: Any) -> Any:
    # Before the pattern check, so a reserved name is refused as reserved, not as "unsafe".
    if isinstance(value, str) and (reason := reserved_reason(value)) is not None:
        raise ValueError(reason)
    return value


class JobData(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    repoUrl: str = Field(min_length=1, max_length=4096)
    # None: the site's own folder (`{site}`), so two sites never share one by default.
    distFolder: str | None = Field(default=None, min_length=1, max_length=256)
    site: str | None = Field(default=None, pattern=SAFE_ID)
    revisionId: str | None = Field(default=None, pattern=SAFE_ID)
    # Site conventions: the generator whose rules apply (else detected from the tree), the
    # site's public URL (else its config's), and whether images are published with the JSON.
    profile: str | None = None
    baseUrl: str | None = Field(default=None, max_length=2048)
    publishMedia: bool | None = None
    # Optional artifacts (pressroom/publish/exports.py); None: the EXPORTS setting's.
    exports: list[str] | None = Field(default=None, max_length=len(EXPORT_NAMES))

    @field_validator("exports")
    @classmethod
    def _exports(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (problem := export_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        if value is not None and value not in PROFILE_NAMES:
            raise ValueError(f"must be one of {', '.join(PROFILE_NAMES)}")
        return value

    @field_validator("baseUrl")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _CONTROL.search(value) or not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError("must be an http(s) URL with no query or fragment")
        return value

    @field_validator("site", "revisionId", mode="before")
    @classmethod
    def _not_reserved(cls, value: Any) -> Any:
        return _no_reserved(value)

    @field_validator("distFolder")
    @classmethod
    def _dist_folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("/"):
            raise ValueError("must be a relative path (no leading '/')")
        parts = PurePosixPath(value).parts
        normal = "/".join(parts)
        # Normalised form only: `dist/`, `a//b` or `a/./b` would be other keys in an object
        # store, and another spelling of a folder some site already owns.
        if normal != value:
            hint = f" (did you mean {normal!r}?)" if normal and normal != "." else ""
            raise ValueError(f"must be a normalised relative path, {value!r} is not{hint}")
        for part in parts:
            # Reserved first: `_work` is refused for being the work store, which says more.
            if (reason := reserved_reason(part)) is not None:
                raise ValueError(reason)
            if not _SAFE_SEGMENT.fullmatch(part):
                raise ValueError(
                    f"segment {part[:64]!r} is not a safe name "
                    "(letters, digits, '.', '_', '-'; no '..')"
                )
        return value

    @field_validator("repoUrl")
    @classmethod
    def _repo_url(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL")
        return value


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    jobId: str = Field(pattern=SAFE_ID)
    task: str = Field(min_length=1, max_length=64)
    data: JobData
    callbackUrl: str | None = Field(default=None, max_length=4096)

    @field_validator("callbackUrl")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if _CONTROL.search(value):
            raise ValueError("must not contain NUL or control characters")
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value


TOP_LEVEL_FIELDS: tuple[str, ...] = tuple(JobRequest.model_fields)
DATA_FIELDS: tuple[str, ...] = tuple(JobData.model_fields)


class _Refused:
    """A number json.loads must not hand on: kept in place as a marker while parsing, so
    the 400 can name the field it was found in (`_check_tree`)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse_int(text: str) -> int | _Refused:
    # Checked before int(): past 4300 digits int() raises ValueError, and long before
    # that converting digits costs quadratic time.
    if len(text) > MAX_NUMBER_CHARS:
        return _Refused(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _parse_float(text: str) -> float | _Refused:
    if len(text) > MAX_NUMBER_CHARS:
        return _Refused(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to infinity
        return _Refused(f"the number {text} is out of range")
    return value


def _parse_constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON value")


def _shown(key: str) -> str:
    return key if len(key) <= 64 else key[:64] + "..."


def check_tree(body: Any) -> None:
    """Depth, refused numbers and unencodable text anywhere in the parsed body; iterative,
    so a deep body cannot exhaust the stack here either."""
    stack: list[tuple[Any, str, int]] = [(body, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
            where = _shown(path) if path else None  # a deep path is long: name its start
            raise BadRequest(
                f"JSON nested deeper than {MAX_JSON_DEPTH} levels (at {where or 'the body'})",
                field=where,
            )
        if isinstance(value, _Refused):
            raise BadRequest(f"{path}: {value.reason}", field=path)
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            raise BadRequest(f"{path}: contains a lone UTF-16 surrogate", field=path)
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{_shown(key)}" if path else _shown(key)
                if _LONE_SURROGATE.search(key) or _CONTROL.search(key):
                    raise BadRequest(
                        f"field name {key[:64]!r} contains a lone surrogate or control character",
                        field=path or None,
                    )
                stack.append((item, child, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def _unknown_top_level(body: dict[str, Any]) -> None:
    """An unknown top-level field is a 400 naming the nearest known one: a typo such as
    `callbackURL` must not silently run the job without its callback."""
    for key in body:
        if key in TOP_LEVEL_FIELDS:
            continue
        nearest = nearest_field(key, TOP_LEVEL_FIELDS)
        hint = f"; did you mean {nearest!r}?" if nearest else ""
        extra: dict[str, Any] = {"knownFields": list(TOP_LEVEL_FIELDS)}
        if nearest:
            extra["didYouMean"] = nearest
        raise BadRequest(f"unknown field {_shown(key)!r}{hint}", field=_shown(key), **extra)


def nearest_field(name: str, known: tuple[str, ...]) -> str | None:
    """The known field closest to `name`, ignoring case (difflib); None when none is close."""
    by_lower = {k.lower(): k for k in known}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def parse_job_request(raw: bytes) -> tuple[JobRequest, dict[str, Any]]:
    """Validate a request body; raises BadRequest naming the first offending field."""
    try:
        body = json.loads(
            raw,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except RecursionError:
        # json's C scanner recurses per level: a very deep body ends here, not in a 500.
        raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    check_tree(body)
    _unknown_top_level(body)
    try:
        request = JobRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise BadRequest(f"{field}: {message}", field=field) from exc
    if request.task not in KNOWN_TASKS:
        raise BadRequest(
            f"unknown task {request.task!r}",
            field="task",
            knownTasks=list(KNOWN_TASKS),
        )
    wanted = set(request.data.exports or ())
    if not TASKS[request.task].load_database and (refused := wanted & NEEDS_DATABASE):
        raise BadRequest(
            f"data.exports: {', '.join(sorted(refused))} is made from the loaded database, "
            f"which task {request.task!r} does not load",
            field="data.exports",
        )
    return request, body


def ignored_fields(request: JobRequest) -> tuple[list[str], int]:
    """The unknown `data` fields as `data.<name>` (at most MAX_IGNORED_LISTED), and how many
    there were in all."""
    extra = list(request.data.model_extra or {})
    return [f"data.{_shown(k)}" for k in extra[:MAX_IGNORED_LISTED]], len(extra)


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
    # A source named like a layout file (`.../latest.json`) must not give a reserved site id.
    if name and reserved_reason(name) is not None:
        name = f"site-{name}"
    return name or "default"


def default_dist_folder(site: str) -> str:
    """A site's own published folder, used when the request names none: its id (a `:` in
    the id, which folder names do not allow, becomes `-`)."""
    return site.replace(":", "-")


def job_input(
    request: JobRequest,
    body: dict[str, Any],
    settings: Settings,
    trigger: JobTrigger | None = None,
) -> JobInput:
    """The workflow input for a validated request; `trigger` says what started it (default:
    a call to the API)."""
    data = request.data
    # URL credentials are sealed, never put in the workflow input as is (pressroom/sealing.py).
    repo_url, repo_sealed = sealing.split(data.repoUrl, settings)
    callback_url, callback_sealed = sealing.split(request.callbackUrl, settings)
    site = data.site or default_site(repo_url or data.repoUrl)
    return JobInput(
        job_id=request.jobId,
        task=request.task,
        repo_url=repo_url or data.repoUrl,
        repo_url_sealed=repo_sealed,
        dist_folder=data.distFolder or default_dist_folder(site),
        site=site,
        revision_id=data.revisionId,
        callback_url=callback_url,
        callback_url_sealed=callback_sealed,
        callback_window_seconds=settings.callback_retry_window_seconds,
        request_sha256=request_fingerprint(body),
        heartbeat_seconds=settings.activity_heartbeat_seconds,
        embed_concurrency=settings.embed_concurrency,
        # Orders a site's revisions: of two jobs for one site, the later request wins.
        requested_at=revisions.iso(datetime.now(UTC)),
        ignored_fields=ignored_fields(request)[0],
        profile=data.profile or settings.site_profile,
        base_url=data.baseUrl,
        publish_media=settings.publish_media if data.publishMedia is None else data.publishMedia,
        trigger=trigger or JobTrigger(kind="api"),
        exports=exports_for(
            settings.exports if data.exports is None else data.exports,
            loads_database=TASKS[request.task].load_database,
        ),
    )
