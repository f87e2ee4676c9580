"""Step 5, load-database: posts, sections and media with their vectors into Postgres.

Streams `posts.jsonl` and the vector batches side by side (the parse step wrote embedding
inputs in section order), so memory stays flat whatever the repository size. The load is
one transaction in `revisions.load_revision`: a retry replaces, never duplicates. The
revision's own search indexes are built once it has committed (`db.revision_indexes`), with
any indexes and word counts (`db.terms`) that earlier revisions lack.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import asyncpg
import numpy as np

from pressroom.content.thumbnails import THUMBNAIL_SPEC
from pressroom.db import revisions
from pressroom.db.revision_indexes import backfill_revision_indexes, build_revision_indexes
from pressroom.db.rows import MediaRow, SectionRow
from pressroom.db.terms import backfill_revision_terms
from pressroom.db.thumbnails import link_thumbnails
from pressroom.models import EmbeddingInfo, LoadSummary, MediaItem, Post
from pressroom.publish.media import media_key
from pressroom.runtime.faults import fault_point, is_armed
from pressroom.search.language import post_ts_config
from pressroom.steps.describe import apply_descriptions
from pressroom.steps.env import DatabaseEnv, Hook, RevisionTarget, StepEnv
from pressroom.steps.thumbnails import make_missing_thumbnails, thumbnail_workers
from pressroom.storage.workstore import read_jsonl, vectors_from_bytes

__all__ = ["LoadInput", "VectorStream", "download_parsed", "download_vectors", "load_database"]

T = TypeVar("T")

# Fault-injection point inside the load transaction: posts copied, sections COPY started.
MID_COPY = "load-database:mid-copy"


class VectorStream:
    """Yields (input id, input sha256, vector) across a kind's batch files, in order."""

    def __init__(self, scratch: Path, kind: str, batches: int) -> None:
        self.scratch, self.kind, self.batches = scratch, kind, batches

    def paths(self, batch: int) -> tuple[Path, Path]:
        return (
            self.scratch / f"{self.kind}-{batch:05d}.jsonl",
            self.scratch / f"{self.kind}-{batch:05d}.npy",
        )

    async def download(self, env: StepEnv) -> None:
        for batch in range(self.batches):
            inputs, vectors = self.paths(batch)
            await env.store.get_file(env.keys.embed_inputs(self.kind, batch), inputs)
            await env.store.get_file(env.keys.vectors(self.kind, batch), vectors)

    def __iter__(self) -> Iterator[tuple[str, str, np.ndarray | None]]:
        for batch in range(self.batches):
            inputs, vectors = self.paths(batch)
            matrix = vectors_from_bytes(vectors.read_bytes())
            # A NaN row is an input the provider refused (steps.embed): it has no vector.
            present = np.isfinite(matrix).all(axis=1)
            for i, row in enumerate(read_jsonl(inputs)):
                yield row["id"], row["sha256"], matrix[i] if present[i] else None


def _aligned(
    expected_ids: Iterator[str], stream: Iterator[tuple[str, str, np.ndarray | None]]
) -> Iterator[tuple[str, str, np.ndarray | None]]:
    for expected in expected_ids:
        got = next(stream, None)
        if got is None or got[0] != expected:
            # Only a bug in the parse step's ordering could cause this; fail loudly.
            raise RuntimeError(
                f"vector stream out of order at {expected!r} (got {got and got[0]!r})"
            )
        yield got


def section_rows(
    posts_path: Path,
    vectors: VectorStream,
    default_lang: str = "english",
    langs: dict[str, str] | None = None,
) -> Iterator[SectionRow]:
    """Rows in section order; each stemmed in its post's `lang` (else `default_lang`).
    `langs` is given each post's language that is not `default_lang`, for its images."""
    posts = (Post.model_validate(p) for p in read_jsonl(posts_path))
    stream = iter(vectors)
    for post in posts:
        ids = (s.id for s in post.sections)
        lang = post_ts_config(post.front_matter, default_lang)
        if langs is not None and lang != default_lang:
            langs[post.id] = lang
        for section, (_, sha, vector) in zip(post.sections, _aligned(ids, stream), strict=True):
            yield SectionRow.from_section(
                section, post_title=post.title, embedding=vector, content_sha256=sha, lang=lang
            )


async def download_parsed(env: StepEnv, media_batches: int) -> tuple[Path, Path]:
    """The parse step's posts and media, local, with image descriptions folded in."""
    posts, media = env.scratch / "posts.jsonl", env.scratch / "media.jsonl"
    await env.store.get_file(env.keys.posts, posts)
    await env.store.get_file(env.keys.media, media)
    await apply_descriptions(env, media_batches, media)
    return posts, media


async def download_vectors(
    env: StepEnv, text_batches: int, media_batches: int
) -> tuple[VectorStream, VectorStream]:
    """The embed steps' inputs and vectors, local: (text, media)."""
    text = VectorStream(env.scratch, "text", text_batches)
    images = VectorStream(env.scratch, "media", media_batches)
    await text.download(env)
    await images.download(env)
    return text, images


def link_thumbnails_then(
    conn: asyncpg.Connection, target: RevisionTarget, then: Hook | None
) -> Hook:
    """The load's last act inside its transaction: link the revision's images to their
    previews (made before the transaction), then `then` (the env's before-commit hook)."""

    async def hook() -> None:
        await link_thumbnails(conn, target.site, target.revision_id, THUMBNAIL_SPEC)
        if then is not None:
            await then()

    return hook


async def _after_fault_point(rows: Iterable[T], point: str) -> AsyncIterator[T]:
    """`rows`, once the fault point passes: used only when fault injection arms `point`."""
    await fault_point(point)
    for n, row in enumerate(rows, 1):
        yield row
        if n % 500 == 0:  # hand the loop back, as db.rows._mapped does for sync rows
            await asyncio.sleep(0)


def media_rows(
    media_path: Path,
    vectors: VectorStream,
    default_lang: str = "english",
    langs: dict[str, str] | None = None,
    published_url: Callable[[MediaItem], str] | None = None,
) -> Iterator[MediaRow]:
    """Rows in the media file's order; each stemmed in its first post's language. `langs`
    (filled by `section_rows`, which the load consumes first) holds the posts' languages
    that are not `default_lang`; `published_url`, when the job publishes media, names each
    image's copy in the artifact store (the same URL media.json gets)."""
    items = [MediaItem.model_validate(m) for m in read_jsonl(media_path)]
    stream = _aligned((m.path for m in items), iter(vectors))
    langs = {} if langs is None else langs
    for item, (_, _, vector) in zip(items, stream, strict=True):
        first = item.referenced_by[0].post_id if item.referenced_by else None
        lang = langs.get(first, default_lang) if first else default_lang
        row = MediaRow.from_item(item, embedding=vector, lang=lang)
        yield row if published_url is None else replace(row, published_url=published_url(item))


def _published_url(url_for: Callable[[str], str]) -> Callable[[MediaItem], str]:
    return lambda item: url_for(media_key(item.sha256, item.mime, item.path))


@dataclass(frozen=True)
class LoadInput:
    """`switch` False: the revision is loaded but not made current (the switch step does
    that after publishing); with `switch` and `keep`, older revisions are pruned to `keep`.
    `repo_url` is recorded with the revision; `default_lang` stems posts that name no
    language; `thumbnail_workers` threads make the previews the store lacks."""

    target: RevisionTarget
    embedding: EmbeddingInfo
    text_batches: int
    media_batches: int
    switch: bool = True
    repo_url: str | None = None
    keep: int | None = None
    default_lang: str = "english"
    thumbnail_workers: int = field(default_factory=thumbnail_workers)
    publish_media: bool = False  # the job copies images to the store: rows name the copy


async def load_database(req: LoadInput, env: DatabaseEnv) -> LoadSummary:
    """Load the revision in one transaction (`revisions.load_revision`; `env.before_commit`
    runs last inside it). Image previews are made before it opens; inside, the revision only
    links to them. A revision superseded by a later job's current one loads nothing and
    says so."""
    target = req.target
    posts_path, media_path = await download_parsed(env, req.media_batches)
    thumbnails = await make_missing_thumbnails(env, media_path, req.thumbnail_workers)
    text, images = await download_vectors(env, req.text_batches, req.media_batches)
    env.progress(1, 3, "loading")
    langs: dict[str, str] = {}
    sections: Iterable[SectionRow] | AsyncIterator[SectionRow] = section_rows(
        posts_path, text, req.default_lang, langs
    )
    if is_armed(MID_COPY):
        sections = _after_fault_point(sections, MID_COPY)
    load = revisions.RevisionLoad(
        site=target.site,
        revision_id=target.revision_id,
        job_id=target.job_id,
        provider=req.embedding.provider,
        model=req.embedding.model,
        dimensions=req.embedding.dimensions,
        posts=(Post.model_validate(p) for p in read_jsonl(posts_path)),
        sections=sections,
        media=media_rows(
            media_path,
            images,
            req.default_lang,
            langs,
            published_url=_published_url(env.store.url_for) if req.publish_media else None,
        ),
        switch=req.switch,
        requested_at=target.requested_at,
        repo_url=req.repo_url,
        dist_folder=target.dist_folder,
        output_key=target.output_key or None,
    )
    async with env.pool.acquire() as conn:
        load = replace(load, before_commit=link_thumbnails_then(conn, target, env.before_commit))
        try:
            outcome = await revisions.load_revision(conn, load)
        except revisions.RevisionSuperseded as exc:
            env.progress(3, 3, "superseded")
            return LoadSummary(
                site=target.site,
                revision_id=target.revision_id,
                posts=0,
                sections=0,
                media=0,
                previous_revision=exc.current,
                switched=False,
                superseded=True,
                thumbnails=thumbnails,
            )
        pruned: list[str] = []
        if req.switch and req.keep:
            pruned = await revisions.prune_revisions(conn, target.site, keep=req.keep)
        env.progress(2, 3, "building search indexes")
        # After the commit, before the switch makes the revision current: built in bulk
        # from its rows alone, never by inserting into another revision's graph.
        await build_revision_indexes(
            conn, target.site, target.revision_id, req.embedding.dimensions
        )
        await backfill_revision_indexes(conn)
        await backfill_revision_terms(conn)
    await fault_point("load-database:after-commit")
    env.progress(3, 3, "committed")
    return LoadSummary(
        site=target.site,
        revision_id=target.revision_id,
        **outcome.counts,
        previous_revision=outcome.previous_revision,
        changes=outcome.changes,
        switched=outcome.switched,
        pruned=pruned,
        thumbnails=thumbnails,
    )
