"""The floor: the least work a job can do, in one process, without Temporal.

Reads and parses every post, describes every image, hash-embeds every section and image,
loads the revision into Postgres with the same binary COPY (`revisions.load_revision`, then its
vector indexes) and
writes the same JSON artifacts, all in memory and in order. No work store, no claim check, no
retries, no second core. `bench/run.py` runs it beside Pressroom on the same corpus and the
same database and reports Pressroom's wall time as a multiple of this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bench.laps import Laps
from pressroom.content.media import attach_references, describe_image, is_image_path
from pressroom.content.posts import PostParseError, is_post_path, parse_post
from pressroom.db.pool import connect
from pressroom.db.revision_indexes import build_revision_indexes
from pressroom.db.revisions import RevisionLoad, load_revision
from pressroom.db.rows import MediaRow, SectionRow
from pressroom.embeddings.hashing import HashingEmbedder
from pressroom.embeddings.inputs import input_sha256, media_input, section_input
from pressroom.models import MediaItem, Post
from pressroom.publish import artifacts
from pressroom.publish.artifacts import SearchEntry

_SLICE = 512


@dataclass
class FloorResult:
    seconds: float
    posts: int
    sections: int
    media: int
    rows: int
    artifact_bytes: int
    phases: dict[str, float] = field(default_factory=dict)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _parse(root: Path) -> tuple[list[Post], list[MediaItem]]:
    names = _files(root)
    known = frozenset(names)
    posts: list[Post] = []
    for name in names:
        if is_post_path(name):
            try:
                post = parse_post(name, (root / name).read_bytes(), known_files=known)
            except PostParseError:
                continue
            if not post.draft:
                posts.append(post)
    media = {n: describe_image(n, (root / n).read_bytes()) for n in names if is_image_path(n)}
    attach_references(media, posts)
    return posts, list(media.values())


def _embed(
    embedder: HashingEmbedder, posts: list[Post], media: list[MediaItem]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    texts = [section_input(p.title, s.heading, s.text) for p in posts for s in p.sections]
    media_texts = [
        media_input([r.alt for r in m.referenced_by], m.description, Path(m.path).name)
        for m in media
    ]

    def embed(inputs: list[str]) -> np.ndarray:
        # In slices, as Pressroom's batches are: one call over 50k inputs would allocate a
        # (n, 2*dims) float64 scratch matrix of gigabytes and be slower, not faster.
        parts = [embedder.embed_sync(inputs[i : i + _SLICE]) for i in range(0, len(inputs), _SLICE)]
        return np.concatenate(parts) if parts else np.zeros((0, embedder.dimensions), np.float32)

    return [input_sha256(t) for t in texts], embed(texts), embed(media_texts)


def _write_artifacts(
    out: Path,
    site: str,
    revision_id: str,
    embedder: HashingEmbedder,
    posts: list[Post],
    media: list[MediaItem],
    text_vectors: np.ndarray,
    media_vectors: np.ndarray,
) -> int:
    out.mkdir(parents=True, exist_ok=True)
    ids = {"revision_id": revision_id, "site": site}
    artifacts.write_posts_json(out / artifacts.POSTS_JSON, posts, **ids)
    artifacts.write_media_json(out / artifacts.MEDIA_JSON, media, **ids)

    def entries() -> list[SearchEntry]:
        rows: list[SearchEntry] = []
        vectors = iter(text_vectors)
        for post in posts:
            for s in post.sections:
                rows.append(
                    SearchEntry(
                        kind="section", id=s.id, post_id=post.id, title=post.title,
                        vector=next(vectors), anchor=s.anchor, heading=s.heading, text=s.text,
                        tags=list(post.tags), date=post.date,
                    )
                )  # fmt: skip
        for item, vector in zip(media, media_vectors, strict=True):
            alts = [r.alt for r in item.referenced_by if r.alt]
            rows.append(
                SearchEntry(
                    kind="image", id=item.path,
                    post_id=item.referenced_by[0].post_id if item.referenced_by else None,
                    title=alts[0] if alts else Path(item.path).name, vector=vector,
                    url=item.path, text=" ".join([item.description, *alts]).strip(),
                )
            )  # fmt: skip
        return rows

    artifacts.write_search_json(
        out / artifacts.SEARCH_JSON,
        entries(),
        revision_id=revision_id,
        site=site,
        provider=embedder.provider,
        model=embedder.model,
        dimensions=embedder.dimensions,
        version=embedder.version,
    )
    files = (artifacts.POSTS_JSON, artifacts.MEDIA_JSON, artifacts.SEARCH_JSON)
    manifest = artifacts.build_manifest(
        out,
        files,
        site=site,
        revision_id=revision_id,
        counts={"posts": len(posts), "media": len(media)},
        embedding={"provider": embedder.provider, "dimensions": embedder.dimensions},
        created_at="1970-01-01T00:00:00Z",
    )
    artifacts.write_manifest(out, manifest)
    return sum((out / n).stat().st_size for n in (*files, artifacts.MANIFEST_JSON))


async def run_floor(
    corpus: Path, db_url: str, out: Path, *, site: str, revision_id: str, dimensions: int = 384
) -> FloorResult:
    """Do the whole job the cheapest way; returns the wall time and what was produced."""
    conn = await connect(db_url)  # connected (and migrated) before the clock starts
    try:
        laps = Laps()
        lap, phases = laps.lap, laps.phases
        posts, media = _parse(corpus)
        lap("parse")
        embedder = HashingEmbedder(dimensions)
        shas, text_vectors, media_vectors = _embed(embedder, posts, media)
        lap("embed")
        vectors = iter(zip(shas, text_vectors, strict=True))
        section_rows = []
        for post in posts:
            for s in post.sections:
                sha, vector = next(vectors)
                section_rows.append(
                    SectionRow.from_section(
                        s, post_title=post.title, embedding=vector, content_sha256=sha
                    )
                )
        load = RevisionLoad(
            site=site,
            revision_id=revision_id,
            job_id=f"floor-{revision_id}",
            posts=posts,
            sections=section_rows,
            media=[
                MediaRow.from_item(m, embedding=v)
                for m, v in zip(media, media_vectors, strict=True)
            ],
            provider=embedder.provider,
            model=embedder.model,
            dimensions=dimensions,
        )
        counts = (await load_revision(conn, load)).counts
        await build_revision_indexes(conn, site, revision_id, dimensions)
        lap("load")
        artifact_bytes = _write_artifacts(
            out, site, revision_id, embedder, posts, media, text_vectors, media_vectors
        )
        lap("artifacts")
        seconds = laps.seconds
    finally:
        await conn.close()
    return FloorResult(
        seconds=round(seconds, 4),
        posts=len(posts),
        sections=len(section_rows),
        media=len(media),
        rows=sum(counts.values()),
        artifact_bytes=artifact_bytes,
        phases=phases,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--site", default="floor")
    parser.add_argument("--revision", default="floor-1")
    args = parser.parse_args()
    result = asyncio.run(
        run_floor(
            args.corpus, args.database_url, args.out, site=args.site, revision_id=args.revision
        )
    )
    doc = asdict(result)
    # ru_maxrss is in KiB on Linux: this process's peak, for comparison with the worker's.
    doc["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
