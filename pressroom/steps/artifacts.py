"""Step 6, build-artifacts: posts.json, media.json, search.json, errors.json and manifest.json.

Streams the parsed posts and, when the task embedded, the vector batches into the JSON
writers, then puts the files in the work store for the publish step. With media publishing
on, media.json gives each image its published and thumbnail URLs (the publish step uploads
the bytes behind them before the revision is published).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pressroom.content.thumbnails import THUMBNAIL_SPEC
from pressroom.db.export import write_export_sql
from pressroom.models import (
    ArtifactFile,
    ArtifactSummary,
    EmbeddingInfo,
    MediaItem,
    Post,
    ProfileSummary,
)
from pressroom.publish import artifacts
from pressroom.publish.artifacts import SearchEntry, content_type
from pressroom.publish.exports import EXPORT_SQL
from pressroom.publish.media import MediaLinks
from pressroom.search.hits import bounded, bounded_terms, bounded_url
from pressroom.search.search_db_writer import SEARCH_DB, write_search_db
from pressroom.steps.env import DatabaseEnv, RevisionTarget, StepEnv
from pressroom.steps.load import VectorStream, download_parsed, download_vectors
from pressroom.steps.publish_media import media_links
from pressroom.storage.base import sha256_file
from pressroom.storage.workstore import read_jsonl

__all__ = ["BuildInput", "build_artifacts"]

ARTIFACT_FILES = (
    artifacts.POSTS_JSON,
    artifacts.MEDIA_JSON,
    artifacts.SEARCH_JSON,
    artifacts.ERRORS_JSON,
)
# The parse step's full reports (work store key, list name in errors.json).
_REPORTS = (("errors", "errors"), ("warnings", "warnings"), ("skipped", "skipped"))


def _report_rows(path: Path) -> Iterator[dict[str, Any]]:
    return read_jsonl(path) if path.exists() else iter(())


def _posts(path: Path) -> Iterator[Post]:
    return (Post.model_validate(p) for p in read_jsonl(path))


def _media(path: Path) -> Iterator[MediaItem]:
    return (MediaItem.model_validate(m) for m in read_jsonl(path))


def search_entries(
    posts_path: Path,
    media_path: Path,
    text: VectorStream | None,
    images: VectorStream | None,
    links: MediaLinks | None = None,
) -> Iterator[SearchEntry]:
    text_vectors = iter(text) if text else None
    for post in _posts(posts_path):
        # What a hit shows of its post, bounded as the search answers bound it.
        url = bounded_url(post.url) or ""
        authors = bounded_terms(post.authors, "author", "authors")
        summary = bounded(post.summary, "summary")
        for n, section in enumerate(post.sections):
            vector: np.ndarray | None = None
            if text_vectors is not None:
                section_id, _, vector = next(text_vectors)
                if section_id != section.id:
                    raise RuntimeError(f"text vectors out of order at {section.id!r}")
            yield SearchEntry(
                kind="section",
                id=section.id,
                post_id=post.id,
                title=post.title,
                vector=vector,
                anchor=section.anchor,
                heading=section.heading,
                text=section.text,
                url=url,
                tags=list(post.tags),
                date=post.date,
                post_fields=n == 0,
                updated=post.updated,
                authors=authors,
                summary=summary,
            )
    image_vectors = iter(images) if images else None
    media = _media(media_path)
    for item in links.link_all(media) if links else media:
        vector = None
        if image_vectors is not None:
            path, _, vector = next(image_vectors)
            if path != item.path:
                raise RuntimeError(f"media vectors out of order at {item.path!r}")
        alts = [ref.alt for ref in item.referenced_by if ref.alt]
        yield SearchEntry(
            kind="image",
            id=item.path,
            post_id=item.referenced_by[0].post_id if item.referenced_by else None,
            title=alts[0] if alts else Path(item.path).name,
            vector=vector,
            url=item.url or "",
            published_url=item.published_url or "",
            text=" ".join([item.description, *alts]).strip(),
        )


@dataclass(frozen=True)
class BuildInput:
    """`embedding` None: no vectors in search.json (a task without embeddings). `counts` and
    `created_at` go into the manifest. `related` (post id -> related posts, read from the
    database after the load) goes into posts.json; None (no database) leaves it out.
    `media`: the job publishes its media (media.json links them; the env needs a database).
    `exports`: the optional artifacts to build too (pressroom/publish/exports.py)."""

    target: RevisionTarget
    embedding: EmbeddingInfo | None
    text_batches: int
    media_batches: int
    counts: dict[str, int]
    created_at: str
    related: Mapping[str, list[dict[str, Any]]] | None = None
    media: bool = False
    exports: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Sources:
    """The local inputs of the build."""

    posts: Path
    media: Path
    reports: Path
    text: VectorStream | None
    images: VectorStream | None
    profile: dict[str, Any] | None = None  # the site profile the parse step used
    links: MediaLinks | None = None  # media.json's published URLs


def _build(
    req: BuildInput, src: _Sources, out: Path, extra: tuple[str, ...] = ()
) -> list[ArtifactFile]:
    """The JSON files and the manifest, which also lists `extra` (files already in `out`)."""
    site, revision_id = req.target.site, req.target.revision_id
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_posts_json(
        out / artifacts.POSTS_JSON,
        _posts(src.posts),
        revision_id=revision_id,
        site=site,
        related=req.related,
    )
    media = _media(src.media)
    artifacts.write_media_json(
        out / artifacts.MEDIA_JSON,
        src.links.link_all(media) if src.links else media,
        revision_id=revision_id,
        site=site,
    )
    artifacts.write_errors_json(
        out / artifacts.ERRORS_JSON,
        {name: _report_rows(src.reports / name) for _, name in _REPORTS},
        revision_id=revision_id,
        site=site,
    )
    embedding = req.embedding
    artifacts.write_search_json(
        out / artifacts.SEARCH_JSON,
        search_entries(src.posts, src.media, src.text, src.images, src.links),
        revision_id=revision_id,
        site=site,
        **(embedding.model_dump() if embedding else {}),
    )
    files = [*ARTIFACT_FILES, *extra]
    if SEARCH_DB in req.exports:
        # A second pass over the work-store files: streamed again rather than held.
        media = _media(src.media)
        write_search_db(
            out / SEARCH_DB,
            posts=_posts(src.posts),
            media=src.links.link_all(media) if src.links else media,
            entries=search_entries(src.posts, src.media, src.text, src.images, src.links),
            related=req.related,
            revision_id=revision_id,
            site=site,
            embedding=embedding.model_dump() if embedding else None,
        )
        files.append(SEARCH_DB)
    manifest = artifacts.build_manifest(
        out,
        files,
        site=site,
        revision_id=revision_id,
        counts=req.counts,
        embedding=embedding.model_dump() if embedding else {},
        created_at=req.created_at,
        output_key=req.target.output_key,
        kind=req.target.kind,
        profile=src.profile,
        media=src.links.manifest_entry() if src.links else None,
    )
    artifacts.write_manifest(out, manifest)
    return [
        ArtifactFile(name=name, bytes=(out / name).stat().st_size, sha256=sha256_file(out / name))
        for name in (*files, artifacts.MANIFEST_JSON)
    ]


def _profile_summary(profile: Mapping[str, Any]) -> dict[str, Any]:
    """What the manifest says of the site profile: as the job result shows it."""
    keys = ("name", "detected", "root", "config", "base_url", "contributed")
    return ProfileSummary(**{k: profile[k] for k in keys if k in profile}).model_dump(by_alias=True)


async def _export_sql(req: BuildInput, env: StepEnv, out: Path) -> str:
    """Write export.sql (or export.sql.gz) of the loaded revision into `out`; its name."""
    if not isinstance(env, DatabaseEnv) or req.embedding is None:
        # The API refuses it for tasks that load no database (api/requests.py).
        raise TypeError("export.sql is made from the loaded database")
    env.progress(1, 3, "writing export.sql")
    async with env.pool.acquire() as conn:
        written = await write_export_sql(conn, req.target.site, req.target.revision_id, out)
    return written.path.name


async def build_artifacts(req: BuildInput, env: StepEnv) -> ArtifactSummary:
    """Build the revision's JSON files and put them in the work store."""
    posts_path, media_path = await download_parsed(env, req.media_batches)
    reports = env.scratch / "reports"
    reports.mkdir()
    for key_name, name in _REPORTS:
        key = getattr(env.keys, key_name)
        if await env.store.exists(key):
            await env.store.get_file(key, reports / name)
    text = images = None
    if req.embedding is not None:
        text, images = await download_vectors(env, req.text_batches, req.media_batches)
    links = None
    if req.media:
        if not isinstance(env, DatabaseEnv):
            raise TypeError("publishing media needs the database (thumbnails)")
        env.progress(0, 3, "thumbnails for published media")
        links = await media_links(env, media_path, THUMBNAIL_SPEC)
    env.progress(1, 3, "writing JSON")
    out = env.scratch / "out"
    profile = None
    if await env.store.exists(env.keys.profile):  # absent in jobs parsed before profiles
        profile = _profile_summary(json.loads(await env.store.get_bytes(env.keys.profile)))
    extra: tuple[str, ...] = ()
    if EXPORT_SQL in req.exports:
        extra += (await _export_sql(req, env, out),)
    src = _Sources(posts_path, media_path, reports, text, images, profile, links)
    files = await asyncio.to_thread(_build, req, src, out, extra)
    env.progress(2, 3, "uploading to the work store")
    for f in files:
        await env.store.put_file(env.keys.artifact(f.name), out / f.name, content_type(f.name))
    env.progress(3, 3, "done")
    return ArtifactSummary(files=files)
