"""Step 6, build-artifacts: posts.json, media.json, search.json, errors.json and manifest.json.

Streams the parsed posts and, when the task embedded, the vector batches into the JSON
writers, then puts the files in the work store for the publish step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pressroom.models import ArtifactFile, ArtifactSummary, EmbeddingInfo, MediaItem, Post
from pressroom.publish import artifacts
from pressroom.publish.artifacts import SearchEntry
from pressroom.steps import Progress
from pressroom.steps.describe import apply_descriptions
from pressroom.steps.load import VectorStream
from pressroom.storage.base import Store, sha256_file
from pressroom.storage.workstore import WorkKeys, read_jsonl

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
    posts_path: Path, media_path: Path, text: VectorStream | None, images: VectorStream | None
) -> Iterator[SearchEntry]:
    text_vectors = iter(text) if text else None
    for post in _posts(posts_path):
        for section in post.sections:
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
                tags=list(post.tags),
                date=post.date,
            )
    image_vectors = iter(images) if images else None
    for item in _media(media_path):
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
            url=item.path,
            text=" ".join([item.description, *alts]).strip(),
        )


def _build(
    out: Path,
    posts_path: Path,
    media_path: Path,
    reports: Path,
    *,
    site: str,
    revision_id: str,
    embedding: EmbeddingInfo | None,
    text: VectorStream | None,
    images: VectorStream | None,
    counts: dict[str, int],
    created_at: str,
    related: Mapping[str, list[dict[str, Any]]] | None = None,
    output_key: str = "",
    kind: str = "full",
) -> list[ArtifactFile]:
    out.mkdir(parents=True, exist_ok=True)
    artifacts.write_posts_json(
        out / artifacts.POSTS_JSON,
        _posts(posts_path),
        revision_id=revision_id,
        site=site,
        related=related,
    )
    artifacts.write_media_json(
        out / artifacts.MEDIA_JSON, _media(media_path), revision_id=revision_id, site=site
    )
    artifacts.write_errors_json(
        out / artifacts.ERRORS_JSON,
        {name: _report_rows(reports / name) for _, name in _REPORTS},
        revision_id=revision_id,
        site=site,
    )
    artifacts.write_search_json(
        out / artifacts.SEARCH_JSON,
        search_entries(posts_path, media_path, text, images),
        revision_id=revision_id,
        site=site,
        **(
            {
                "provider": embedding.provider,
                "model": embedding.model,
                "dimensions": embedding.dimensions,
                "version": embedding.version,
            }
            if embedding
            else {}
        ),
    )
    manifest = artifacts.build_manifest(
        out,
        ARTIFACT_FILES,
        site=site,
        revision_id=revision_id,
        counts=counts,
        embedding=embedding.model_dump() if embedding else {},
        created_at=created_at,
        output_key=output_key,
        kind=kind,
    )
    artifacts.write_manifest(out, manifest)
    return [
        ArtifactFile(
            name=name, bytes=(out / name).stat().st_size, sha256=sha256_file(out / name)
        )
        for name in (*ARTIFACT_FILES, artifacts.MANIFEST_JSON)
    ]


async def build_artifacts(
    store: Store,
    keys: WorkKeys,
    *,
    site: str,
    revision_id: str,
    text_batches: int,
    media_batches: int,
    embedding: EmbeddingInfo | None,
    counts: dict[str, int],
    created_at: str,
    scratch: Path,
    progress: Progress,
    related: Mapping[str, list[dict[str, Any]]] | None = None,
    output_key: str = "",
    kind: str = "full",
) -> ArtifactSummary:
    """Build the revision's JSON files. `related` (post id -> related posts, read from the
    database after the load) goes into posts.json; None (no database, e.g. parse-only)
    leaves the `related` key out."""
    posts_path, media_path = scratch / "posts.jsonl", scratch / "media.jsonl"
    await store.get_file(keys.posts, posts_path)
    await store.get_file(keys.media, media_path)
    await apply_descriptions(store, keys, media_batches, media_path, scratch)
    reports = scratch / "reports"
    reports.mkdir()
    for key_name, name in _REPORTS:
        key = getattr(keys, key_name)
        if await store.exists(key):
            await store.get_file(key, reports / name)
    text = images = None
    if embedding is not None:
        text = VectorStream(scratch, "text", text_batches)
        images = VectorStream(scratch, "media", media_batches)
        await text.download(store, keys)
        await images.download(store, keys)
    progress(1, 3, "writing JSON")
    out = scratch / "out"
    files = await asyncio.to_thread(
        _build,
        out,
        posts_path,
        media_path,
        reports,
        site=site,
        revision_id=revision_id,
        embedding=embedding,
        text=text,
        images=images,
        counts=counts,
        created_at=created_at,
        related=related,
        output_key=output_key,
        kind=kind,
    )
    progress(2, 3, "uploading to the work store")
    for f in files:
        await store.put_file(keys.artifact(f.name), out / f.name, "application/json")
    progress(3, 3, "done")
    return ArtifactSummary(files=files)
