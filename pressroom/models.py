"""Plain data models shared by every layer: posts, sections, media, job input and results.

These are pydantic models so they serialise the same way in the work store, in Temporal
payloads and in the published JSON. Nothing here does I/O. One concept, kept in one module
on purpose although it is over 400 lines: the shapes that cross a process or history
boundary, so that a field added for one step is seen next to every other payload's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "MAX_INLINE_ERRORS",
    "MAX_INLINE_ERROR_BYTES",
    "ArtifactFile",
    "ArtifactSummary",
    "ArtifactsResult",
    "EmbedSummary",
    "EmbeddingInfo",
    "FileDigest",
    "ImageRef",
    "JobInput",
    "JobProgress",
    "JobResult",
    "JobTrigger",
    "Link",
    "LoadSummary",
    "MediaCounts",
    "MediaItem",
    "MediaRef",
    "ParseSummary",
    "Post",
    "PostError",
    "ProfileSummary",
    "PublishSummary",
    "Section",
    "SourceSummary",
    "StepProgress",
    "SwitchSummary",
    "ThumbnailCounts",
    "error_bytes",
    "inline_errors",
]


class Link(BaseModel):
    """An outgoing link found in a post body."""

    url: str
    text: str = ""
    internal: bool = False  # relative / root-relative / same-site link


class ImageRef(BaseModel):
    """An image referenced by a post (Markdown `![alt](src)` or an HTML `<img>`)."""

    src: str  # as written in the post
    path: str | None = None  # resolved repo-relative POSIX path; None for external URLs
    alt: str = ""
    title: str | None = None


class Section(BaseModel):
    """A heading-level slice of a post; the unit of embedding and search."""

    id: str  # f"{post_id}#{anchor}"; the intro section before any heading has anchor ""
    post_id: str
    anchor: str
    heading: str  # heading text; "" for the intro section
    level: int  # 1-6 for headings, 0 for the intro section
    position: int  # 0-based order within the post
    text: str  # plain text of the section body (heading excluded)


class Post(BaseModel):
    """One parsed Markdown post."""

    id: str  # repo-relative path without extension (and without a trailing /index)
    slug: str
    path: str  # repo-relative POSIX path of the source file
    title: str
    # Where the site's generator publishes it: absolute when the site's base URL is known
    # (its config or `data.baseUrl`), else root-relative; None when it renders no page.
    url: str | None = None
    aliases: list[str] = Field(default_factory=list)  # other URLs that redirect to it
    date: str | None = None  # ISO 8601 date or datetime
    updated: str | None = None
    authors: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    description: str = ""
    excerpt: str = ""
    # What a listing shows: description, summary or excerpt as written, else the first paragraph.
    summary: str = ""
    draft: bool = False
    word_count: int = 0
    reading_time: int = 0  # minutes, at least 1 for a non-empty post
    html: str = ""
    text: str = ""
    sections: list[Section] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    images: list[ImageRef] = Field(default_factory=list)
    front_matter: dict[str, Any] = Field(default_factory=dict)  # JSON-safe copy
    content_sha256: str = ""  # sha256 of the source file bytes


# A per-file reason is at most this many UTF-8 bytes: a parser message may quote the input
# (a 3 MB YAML tag), and errors travel through workflow history and job results.
MAX_REASON_BYTES = 1024
# A path longer than Linux's PATH_MAX cannot name a file; anything over it is hostile input.
MAX_ERROR_PATH_BYTES = 4096
TRUNCATED_MARKER = "\u2026 [truncated {} bytes]"


def truncate_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, marked with how many bytes were cut."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    marker_room = len(TRUNCATED_MARKER.format(len(data)).encode())
    # errors="ignore" drops a character split by the cut, never producing invalid text.
    head = data[: max(limit - marker_room, 0)].decode("utf-8", "ignore")
    return head + TRUNCATED_MARKER.format(len(data) - len(head.encode()))


class PostError(BaseModel):
    """A file that could not be used (or was skipped, or was cut), reported with its path.

    Errors, skipped drafts and warnings share this shape. The reason is bounded to
    MAX_REASON_BYTES (and the path to MAX_ERROR_PATH_BYTES) whatever built it, so a hostile
    file can never make an error list large.
    """

    path: str
    reason: str

    @field_validator("reason")
    @classmethod
    def _bounded_reason(cls, value: str) -> str:
        return truncate_utf8(value, MAX_REASON_BYTES)

    @field_validator("path")
    @classmethod
    def _bounded_path(cls, value: str) -> str:
        return truncate_utf8(value, MAX_ERROR_PATH_BYTES)


class MediaRef(BaseModel):
    post_id: str
    alt: str = ""


class MediaItem(BaseModel):
    """An image file in the source tree."""

    path: str  # repo-relative POSIX path
    mime: str
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None
    referenced_by: list[MediaRef] = Field(default_factory=list)
    description: str = ""  # filled by a vision model when one is configured
    url: str | None = None  # where the site's generator serves it (see Post.url)
    # The copy in the artifact store (`media/{sha256}.{ext}`) when the job publishes media.
    published_url: str | None = None
    thumbnail_url: str | None = None


# --- job contract -----------------------------------------------------------------------


class JobTrigger(BaseModel):
    """What started a job: `api` (POST /process, a registered site's POST /sites/{site}/builds,
    the CLI), `schedule` (the site's Temporal Schedule) or `webhook` (a git host's push, with
    its delivery id). Shown in the job's result and `GET /jobs/{jobId}`."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    kind: str  # api | schedule | webhook
    site: str | None = None  # the registered site it was started for, if any
    host: str | None = None  # webhook: github | gitlab | gitea
    delivery: str | None = None  # webhook: the host's delivery id
    commit: str | None = None  # webhook: the pushed head commit
    schedule: str | None = None  # schedule: the Temporal Schedule id

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class JobInput(BaseModel):
    """Workflow input: small, references only (claim check)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    task: str
    repo_url: str
    dist_folder: str = "dist"
    site: str
    revision_id: str | None = None  # the client's revision id, else a content hash
    callback_url: str | None = None
    request_sha256: str = ""
    # Workflow tuning, fixed at start so replays see the same values.
    heartbeat_seconds: int = 60
    embed_concurrency: int = 4
    # When the job was requested (UTC ISO 8601, set by the API/CLI): orders a site's
    # revisions, the later request wins. None: the workflow uses its start time.
    requested_at: str | None = None
    # Credentials found in repo_url / callback_url (userinfo, token-like query values), sealed
    # by pressroom/sealing.py: the plain fields then hold the redacted URLs, so workflow
    # history never shows a token; workers unseal right where the URL is used.
    repo_url_sealed: str | None = None
    callback_url_sealed: str | None = None
    # How long the callback is retried (CALLBACK_RETRY_WINDOW_SECONDS), fixed at start.
    callback_window_seconds: int = 24 * 3600
    # Unknown `data` fields of the request (`data.<name>`, a bounded list), accepted for older
    # clients and logged by the workflow. Defaulted, so histories recorded before it decode.
    ignored_fields: list[str] = []
    # Site conventions (pressroom.conventions): None detects the profile from the tree.
    profile: str | None = None
    base_url: str | None = None  # the site's public URL, over what its config says
    publish_media: bool = False  # images and thumbnails copied to `media/` in the store
    # What started the job; None in histories recorded before triggers (they were all `api`).
    # A `schedule` job's id is its workflow id, which only Temporal knows when it starts it.
    trigger: JobTrigger | None = None
    # Optional artifacts besides the JSON files (pressroom.publish.exports.EXPORT_NAMES).
    exports: list[str] = []


class StepProgress(BaseModel):
    name: str
    state: str = "pending"  # pending | running | completed | failed | skipped
    done: int = 0
    total: int = 0
    detail: str = ""


class JobProgress(BaseModel):
    """What the `progress` query returns and `GET /jobs/{jobId}` shows."""

    job_id: str
    task: str
    state: str = "pending"  # pending | running | completed | failed | cancelled
    current_step: str | None = None
    steps: list[StepProgress] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    errors: list[PostError] = Field(default_factory=list)
    error_count: int = 0
    skipped: list[PostError] = Field(default_factory=list)
    # Posts kept with a field cut to its cap (bounded like errors; all in errors.json).
    warnings: list[PostError] = Field(default_factory=list)
    warning_count: int = 0
    revision_id: str | None = None
    started_at: str | None = None
    result: dict[str, Any] | None = None
    failure: str | None = None
    # The callback's delivery: {state: delivering|delivered|refused|undelivered, reason,
    # attempts, status}; None when the job has no callback URL (or has not reached it).
    callback: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None  # JobTrigger.as_dict(); None: an older job


# --- step summaries (small: they travel through workflow history) ------------------------

MAX_INLINE_ERRORS = 50  # errors beyond this are counted and kept in the work store only
# Each inline list (errors, skipped, warnings) also stops at this many bytes of paths and
# reasons, so three full lists stay well under the 64 KiB payload budget of a step result.
MAX_INLINE_ERROR_BYTES = 16 * 1024


def error_bytes(path: str, reason: str) -> int:
    """What one entry costs of the inline budget: its path and reason in UTF-8."""
    return len(path.encode("utf-8", "surrogatepass")) + len(reason.encode("utf-8", "surrogatepass"))


def inline_errors(
    items: Iterable[PostError],
    limit: int = MAX_INLINE_ERRORS,
    max_bytes: int = MAX_INLINE_ERROR_BYTES,
) -> list[PostError]:
    """The leading items that fit in `limit` entries and `max_bytes` of path + reason."""
    out: list[PostError] = []
    used = 0
    for item in items:
        size = error_bytes(item.path, item.reason)
        if len(out) >= limit or used + size > max_bytes:
            break
        out.append(item)
        used += size
    return out


class EmbeddingInfo(BaseModel):
    provider: str
    model: str
    dimensions: int
    version: str


class SourceSummary(BaseModel):
    revision_id: str
    # The content fingerprint of the snapshot ("r-" + hex), whatever id the revision gets.
    content_id: str = ""
    # Everything that decides the revision's bytes, hashed (pressroom/publication.py), and
    # what the task builds (`full` or `parse`). The derived revision id comes from the key.
    output_key: str = ""
    kind: str = "full"
    # The revision is already published with this very output: the job reuses it.
    already_published: bool = False
    # Published, and (for a task that loads) loaded whole with this very output: there is
    # nothing to build. `loaded_counts` are the rows it holds (posts, sections, media).
    unchanged: bool = False
    loaded_counts: dict[str, int] = Field(default_factory=dict)
    files: int
    bytes: int
    posts_found: int
    images_found: int
    # Files left out of the snapshot and reported (e.g. names that are not UTF-8): they are
    # not in the content fingerprint, so a job that has any is never `unchanged`.
    file_errors: int = 0


MAX_PROFILE_NOTES = 20
MAX_PROFILE_NOTE_CHARS = 300


class ProfileSummary(BaseModel):
    """The site profile a job used (pressroom.conventions): the generator, whether it was
    detected or named, the site's folder and config file, its base URL, and in words what the
    tree contributed. Bounded: it travels in the parse result and the job result."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    name: str
    detected: bool = True
    root: str = ""
    config: str | None = None
    base_url: str | None = None
    contributed: list[str] = Field(default_factory=list)

    @field_validator("contributed")
    @classmethod
    def _bounded(cls, value: list[str]) -> list[str]:
        return [note[:MAX_PROFILE_NOTE_CHARS] for note in value[:MAX_PROFILE_NOTES]]


class ParseSummary(BaseModel):
    """The parse step's result. The inline lists are the first entries that fit
    `inline_errors` (count and bytes); the full lists are JSON lines in the work store:
    `WorkKeys.errors`, `.warnings` and `.skipped` (read them with
    `workstore.read_post_errors`)."""

    posts: int
    sections: int
    media: int
    drafts_skipped: int
    skipped: list[PostError] = Field(default_factory=list)  # drafts
    # Files that are not in the revision: unreadable, duplicate ids, bad names, hard links.
    errors: list[PostError] = Field(default_factory=list)
    error_count: int = 0
    # Posts kept with a field cut to its documented cap (caps.FIELD_CAPS); the job completes.
    warnings: list[PostError] = Field(default_factory=list)
    warning_count: int = 0
    text_batches: int = 0
    media_batches: int = 0
    embedding: EmbeddingInfo | None = None  # the parsing worker's embedder, for later steps
    profile: ProfileSummary | None = None  # None in histories recorded before profiles

    @model_validator(mode="after")
    def _bounded_lists(self) -> ParseSummary:
        # Whoever builds a summary, it never carries more than the inline budget.
        for name in ("skipped", "errors", "warnings"):
            items = getattr(self, name)
            bounded = inline_errors(items)
            if len(bounded) != len(items):
                setattr(self, name, bounded)
        return self


class EmbedSummary(BaseModel):
    kind: str  # "text" | "media"
    batch: int
    inputs: int
    computed: int
    reused: int
    embedding: EmbeddingInfo
    # Inputs the provider refused (a per-input 400): they get no vector. `failures` holds at
    # most MAX_INLINE_ERRORS of them (path or section id + reason); `failed` counts them all.
    failed: int = 0
    failures: list[PostError] = Field(default_factory=list)
    # Image descriptions (media batches with a vision model): newly described, reused from
    # the cache, and images skipped (unsupported format, refused) with the reason.
    described: int = 0
    descriptions_reused: int = 0
    undescribed: list[PostError] = Field(default_factory=list)


class ThumbnailCounts(BaseModel):
    """The job's image previews, per distinct image content: `made` (decoded now),
    `unreadable` (decoded now, no preview possible) and `reused` (made by an earlier job of
    any site: not decoded again)."""

    made: int = 0
    unreadable: int = 0
    reused: int = 0


class LoadSummary(BaseModel):
    site: str
    revision_id: str
    posts: int
    sections: int
    media: int
    # Incremental revisions: the revision current when the load began, what changed against
    # it ({kind}Added/Changed/Unchanged/Removed), whether this load made the revision current
    # (False when a later switch step does), and whether a later job's revision already was
    # current (then nothing was loaded).
    previous_revision: str | None = None
    changes: dict[str, int] = Field(default_factory=dict)
    switched: bool = True
    superseded: bool = False
    pruned: list[str] = Field(default_factory=list)
    thumbnails: ThumbnailCounts = Field(default_factory=ThumbnailCounts)


class SwitchSummary(BaseModel):
    """The switch step: the site's current revision and `latest.json`, moved together."""

    site: str
    revision_id: str
    switched: bool  # the revision is now current in Postgres
    latest_updated: bool  # latest.json now names it
    superseded: bool = False  # a later job's revision was current: nothing changed
    previous_revision: str | None = None
    current_revision: str | None = None
    pruned: list[str] = Field(default_factory=list)


class ArtifactFile(BaseModel):
    name: str
    bytes: int
    sha256: str


class ArtifactSummary(BaseModel):
    files: list[ArtifactFile]


class MediaCounts(BaseModel):
    """A job's media publishing (`publish_media`): the images and previews it uploaded, and
    those already in the store under their content keys (from any revision or site)."""

    images_uploaded: int = 0
    images_present: int = 0
    thumbnails_uploaded: int = 0
    thumbnails_present: int = 0


class PublishSummary(BaseModel):
    base_url: str
    latest_url: str
    files: list[str]
    uploaded: int
    skipped: int = 0
    latest_updated: bool = True  # False: not asked to, or a later job's latest.json stays
    # What the revision folder holds: the files this job built, or, when the revision was
    # already published with the same output (`reused`), the files as published then.
    published: list[ArtifactFile] = Field(default_factory=list)
    reused: bool = False
    # Media publishing's counts; None when the job does not publish media or the revision
    # was already published (its media with it).
    media: MediaCounts | None = None


# --- the job's result (the callback body's `result`, `GET /jobs/{jobId}`) -----------------


class FileDigest(BaseModel):
    bytes: int
    sha256: str


class ArtifactsResult(BaseModel):
    """Where the revision's files are: `base` (its folder), `latest` (latest.json), whether
    latest.json names it, whether the folder was already published, and what it holds."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    base: str
    latest: str
    latest_updated: bool
    reused: bool
    files: dict[str, FileDigest]


class JobResult(BaseModel):
    """What a job did, built once when it ends. `as_dict()` is the JSON clients read: camelCase
    keys, and the keys of steps that did not run (None here) left out."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    task: str
    site: str
    revision: str | None = None  # once fetched
    embedding: EmbeddingInfo | None = None  # tasks that embed, once parsed
    profile: ProfileSummary | None = None  # the site conventions applied, once parsed
    database: LoadSummary | None = None
    previous_revision: str | None = None  # the site's current revision before the load
    superseded: bool | None = None  # True: a later job's revision stays current
    # True: the revision was already built, published and loaded with this very output
    # (nothing changed since): no step rebuilt it; it was made current again if need be.
    unchanged: bool | None = None
    artifacts: ArtifactsResult | None = None
    switch: SwitchSummary | None = None
    status: str  # completed | failed | cancelled
    failure: str | None = None
    errors: list[PostError] = Field(default_factory=list)
    error_count: int = 0
    skipped: list[PostError] = Field(default_factory=list)
    warnings: list[PostError] = Field(default_factory=list)
    warning_count: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    # The callback's delivery (JobProgress.callback); None: the job has no callback URL.
    callback: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None  # what started the job (JobTrigger.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(by_alias=True).items() if v is not None}
