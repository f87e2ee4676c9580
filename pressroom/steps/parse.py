"""Step 2, parse: posts and media from the snapshot, plus the embedding input batches.

Writes `posts.jsonl`, `media.jsonl`, `errors.jsonl` and `embed/{text,media}-NNNNN.jsonl` to
the work store. Embedding inputs are written in the same order as sections appear in
`posts.jsonl` (and media in `media.jsonl`), so the load step can zip them back together
without holding either in memory.
"""

from __future__ import annotations

import asyncio
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pressroom.embeddings.inputs import input_sha256, media_input, section_input
from pressroom.media import attach_references, describe_image, is_image_path
from pressroom.models import MAX_INLINE_ERRORS, MediaItem, ParseSummary, Post, PostError
from pressroom.posts import PostParseError, is_post_path, parse_post
from pressroom.steps import Progress
from pressroom.storage import Store
from pressroom.workstore import WorkKeys, write_jsonl

PARSE_CHUNK = 64  # posts parsed per thread hop, so heartbeats keep flowing


def extract_snapshot(tar_path: Path, dest: Path) -> list[str]:
    """Extract the fetch step's snapshot; returns the repo-relative paths it holds."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
        tar.extractall(dest, filter="data")
    return sorted(names)


def parse_one(root: Path, rel_path: str, known: frozenset[str]) -> Post | PostError:
    try:
        return parse_post(rel_path, (root / rel_path).read_bytes(), known_files=known)
    except PostParseError as exc:
        return PostError(path=rel_path, reason=str(exc))
    except Exception as exc:  # the parser must never take the job down with it
        return PostError(path=rel_path, reason=f"unexpected parser error: {exc!r}")


def _parse_chunk(root: Path, paths: list[str], known: frozenset[str]) -> list[Post | PostError]:
    return [parse_one(root, p, known) for p in paths]


def _text_inputs(posts: list[Post]) -> Iterator[dict[str, Any]]:
    for post in posts:
        for section in post.sections:
            text = section_input(post.title, section.heading, section.text)
            yield {"id": section.id, "sha256": input_sha256(text), "input": text}


def _media_inputs(media: list[MediaItem]) -> Iterator[dict[str, Any]]:
    for item in media:
        text = media_input(
            [ref.alt for ref in item.referenced_by], item.description, Path(item.path).name
        )
        yield {"id": item.path, "sha256": input_sha256(text), "input": text}


def _write_batches(
    scratch: Path, keys: WorkKeys, kind: str, rows: Iterator[dict[str, Any]], size: int
) -> list[tuple[str, Path]]:
    """Split embedding inputs into batch files of `size` rows; returns (key, path) pairs."""
    out: list[tuple[str, Path]] = []
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        index = len(out)
        path = scratch / "embed" / f"{kind}-{index:05d}.jsonl"
        write_jsonl(path, batch)
        out.append((keys.embed_inputs(kind, index), path))

    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            flush()
            batch = []
    if batch:
        flush()
    return out


async def parse_source(
    store: Store,
    keys: WorkKeys,
    scratch: Path,
    *,
    include_drafts: bool,
    batch_size: int,
    progress: Progress,
) -> ParseSummary:
    tar_path = scratch / "source.tar"
    await store.get_file(keys.source, tar_path)
    root = scratch / "tree"
    names = await asyncio.to_thread(extract_snapshot, tar_path, root)
    known = frozenset(names)
    post_paths = [n for n in names if is_post_path(n)]
    image_paths = [n for n in names if is_image_path(n)]

    posts: list[Post] = []
    errors: list[PostError] = []
    drafts: list[PostError] = []
    for start in range(0, len(post_paths), PARSE_CHUNK):
        chunk = post_paths[start : start + PARSE_CHUNK]
        for outcome in await asyncio.to_thread(_parse_chunk, root, chunk, known):
            if isinstance(outcome, PostError):
                errors.append(outcome)
            elif outcome.draft and not include_drafts:
                drafts.append(PostError(path=outcome.path, reason="draft (INCLUDE_DRAFTS=false)"))
            else:
                posts.append(outcome)
        progress(start + len(chunk), len(post_paths), "parsing posts")

    def describe_all() -> list[MediaItem]:
        return [describe_image(p, (root / p).read_bytes()) for p in image_paths]

    media_items = await asyncio.to_thread(describe_all)
    by_path = {m.path: m for m in media_items}
    attach_references(by_path, posts)
    progress(len(post_paths), len(post_paths), "writing parsed data")

    def write_all() -> tuple[list[tuple[str, Path]], int, int]:
        files = [
            (keys.posts, scratch / "posts.jsonl"),
            (keys.media, scratch / "media.jsonl"),
            (keys.errors, scratch / "errors.jsonl"),
        ]
        write_jsonl(files[0][1], (p.model_dump(mode="json") for p in posts))
        write_jsonl(files[1][1], (m.model_dump(mode="json") for m in media_items))
        write_jsonl(files[2][1], (e.model_dump(mode="json") for e in errors))
        text = _write_batches(scratch, keys, "text", _text_inputs(posts), batch_size)
        media = _write_batches(scratch, keys, "media", _media_inputs(media_items), batch_size)
        return files + text + media, len(text), len(media)

    written, text_batches, media_batches = await asyncio.to_thread(write_all)
    for key, path in written:
        await store.put_file(key, path, "application/x-ndjson")

    return ParseSummary(
        posts=len(posts),
        sections=sum(len(p.sections) for p in posts),
        media=len(media_items),
        drafts_skipped=len(drafts),
        skipped=drafts[:MAX_INLINE_ERRORS],
        errors=errors[:MAX_INLINE_ERRORS],
        error_count=len(errors),
        text_batches=text_batches,
        media_batches=media_batches,
    )
