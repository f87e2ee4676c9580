"""Sources: every kind of `repoUrl`, fetched under policy into a local tree. The one
dispatcher (`source_kind`) and its entry points, `materialize_source_async` (a job's fetch)
and `materialize_source` (a local source without the policy: tests and tools).

Dispatch, one module per kind:

- `local`: a path, `file:///dir`, a local `.tar.gz`/`.zip` (copied by `local`, extracted by
  `archive`), when the LOCAL_SOURCES policy accepts it (`local.allowed_local`: under
  `SOURCE_ROOTS` when roots are configured or required);
- `archive`: any other http(s) URL (`…/x.tar.gz`, `…/x.zip`): `http`, via the guarded session;
- `git`: `https://…/repo.git[#ref]`, `git+https://…`, `file://…/repo.git[#ref]`,
  `git+file://…`, or any https/file URL with a `#ref`;
- `s3`: `s3://bucket/prefix/` with the bucket in `SOURCE_S3_BUCKETS` (boto is imported only
  then).

`tree` holds what every kind shares: the limits, listing files and the content fingerprint.

Remote fetchers download into a staging directory beside `dest`; the result is then copied or
extracted into `dest` by the same code as a local source (`local.materialize_local`), so
every source gets the same limits and safety checks (traversal, links, devices, bombs, sizes).
Anything else (`ssh`, `git://`, scp-like `git@host:repo`, `ext::`, option-shaped strings) is
refused as bad input.

Errors: `SourceError` (bad input, never retried) or `SourceUnavailable` (transient: network,
5xx, time limit; Temporal retries it). Neither carries credentials from the URL. Files left
out one by one (hard links in a local directory) are appended to the caller's `problems`
list, with a printable path and the reason: one such file never fails the fetch.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from pressroom.config import Settings
from pressroom.models import PostError
from pressroom.security.netguard import NetworkPolicy, guarded_session
from pressroom.security.redact import redact_url
from pressroom.sources.errors import SourceError, SourceUnavailable
from pressroom.sources.git import fetch_git, is_git_url
from pressroom.sources.http import download_archive
from pressroom.sources.local import LocalSources, allowed_local, local_path, materialize_local
from pressroom.sources.tree import (
    SourceFile,
    SourceLimits,
    compute_revision_id,
    is_utf8_path,
    list_source_files,
    printable_path,
)
from pressroom.storage.s3_config import S3Config

__all__ = [
    "FetchOptions",
    "SourceError",
    "SourceFile",
    "SourceLimits",
    "SourceUnavailable",
    "compute_revision_id",
    "is_utf8_path",
    "list_source_files",
    "materialize_source",
    "materialize_source_async",
    "printable_path",
    "source_kind",
]


@dataclass(frozen=True)
class FetchOptions:
    """The source policy and the clients' configuration, from settings."""

    source_roots: tuple[Path, ...] = ()
    local_sources: LocalSources = "any"  # Settings.resolved_local_sources
    s3_buckets: tuple[str, ...] = ()
    timeout_s: float = 300
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    s3: S3Config = field(default_factory=S3Config)

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchOptions:
        return cls(
            source_roots=tuple(settings.source_roots),
            local_sources=settings.resolved_local_sources,
            s3_buckets=tuple(settings.source_s3_buckets),
            timeout_s=float(settings.source_fetch_timeout_seconds),
            network=NetworkPolicy.from_settings(settings),
            s3=S3Config.from_settings(settings),
        )


def source_kind(repo_url: str) -> str:
    """ "local", "archive", "git" or "s3"; SourceError for anything not accepted."""
    if repo_url.startswith("-"):
        raise SourceError("source must not start with '-'")
    if "\x00" in repo_url:
        raise SourceError("source contains NUL")
    try:
        scheme = urlsplit(repo_url).scheme.lower()
    except ValueError:
        raise SourceError(f"unparseable source URL {redact_url(repo_url)!r}") from None
    if len(scheme) == 1:
        scheme = ""  # a Windows drive letter
    if scheme in ("git+https", "git+file"):
        return "git"
    if scheme == "file":
        return "git" if is_git_url(repo_url) else "local"
    if scheme == "":
        if "@" in repo_url.split("/", 1)[0] and ":" in repo_url:
            raise SourceError(
                f"unsupported source {redact_url(repo_url)!r}: scp-style git remotes are "
                "not fetched; use an https:// URL"
            )
        return "local"
    if scheme in ("http", "https"):
        return "git" if is_git_url(repo_url) else "archive"
    if scheme == "s3":
        return "s3"
    raise SourceError(
        f"unsupported source {redact_url(repo_url)!r}: scheme {scheme!r} is not accepted "
        "(local path, file://, http(s) archive, https git, s3://)"
    )


def materialize_source(
    repo_url: str, dest: Path, limits: SourceLimits, *, problems: list[PostError] | None = None
) -> Path:
    """Copy or extract the local source `repo_url` (a path or `file://` URL) into `dest`,
    without the LOCAL_SOURCES policy; see `local.materialize_local`. A remote source is
    refused: those are fetched by `materialize_source_async`."""
    kind = source_kind(repo_url)
    if kind != "local":
        raise SourceError(
            f"unsupported source {redact_url(repo_url)!r}: a {kind} source is not local; "
            f"remote sources (http(s) archives, git, s3) are fetched by "
            f"pressroom.sources.materialize_source_async"
        )
    return materialize_local(local_path(repo_url), dest, limits, problems=problems)


async def materialize_source_async(
    repo_url: str,
    dest: Path,
    limits: SourceLimits,
    options: FetchOptions | None = None,
    http: aiohttp.ClientSession | None = None,
    *,
    resolver: AbstractResolver | None = None,
    problems: list[PostError] | None = None,
) -> Path:
    """Fetch `repo_url` under the policy in `options` and materialize it into `dest`.

    `http` should be a guarded session (pressroom.security.netguard); without one, a guarded
    session is made for this call. `resolver` is a test seam for the git host check.
    `problems` receives the files left out one by one (see the module docstring).
    Returns the tree's root (see `local.materialize_local`).
    """
    options = options or FetchOptions()
    kind = source_kind(repo_url)
    if kind == "local":
        path = allowed_local(local_path(repo_url), options.source_roots, options.local_sources)
        return await asyncio.to_thread(materialize_local, path, dest, limits, problems=problems)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=dest.parent))
    try:
        fetched = await _fetch_remote(kind, repo_url, staging, limits, options, http, resolver)
        try:
            return await asyncio.to_thread(
                materialize_local, fetched, dest, limits, problems=problems
            )
        except SourceError as exc:
            raise SourceError(f"{redact_url(repo_url)}: {exc}") from None
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def _fetch_remote(
    kind: str,
    repo_url: str,
    staging: Path,
    limits: SourceLimits,
    options: FetchOptions,
    http: aiohttp.ClientSession | None,
    resolver: AbstractResolver | None,
) -> Path:
    if kind == "archive":
        if http is not None:
            return await download_archive(
                repo_url, staging, http, limits.max_total_bytes, options.timeout_s
            )
        async with guarded_session(policy=options.network) as own:
            return await download_archive(
                repo_url, staging, own, limits.max_total_bytes, options.timeout_s
            )
    if kind == "git":
        return await fetch_git(
            repo_url,
            staging,
            limits,
            policy=options.network,
            roots=options.source_roots,
            local_sources=options.local_sources,
            timeout_s=options.timeout_s,
            resolver=resolver,
        )
    from pressroom.sources.s3 import fetch_s3  # boto is only needed for s3:// sources

    return await fetch_s3(repo_url, staging, limits, buckets=options.s3_buckets, config=options.s3)
