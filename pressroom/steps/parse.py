"""Step 2, parse: posts and media from the snapshot, plus the embedding input batches.

Writes `posts.jsonl`, `media.jsonl`, the per-file reports (`errors.jsonl`, `warnings.jsonl`,
`skipped.jsonl`; see pressroom.workstore) and `embed/{text,media}-NNNNN.jsonl` to the work
store. Embedding inputs are written in the same order as sections appear in `posts.jsonl`
(and media in `media.jsonl`), so the load step can zip them back together without holding
either in memory.

One bad file is one entry in `errors.jsonl`, never a failed step: the fetch step's file
errors (names that are not UTF-8, hard links) come first, then files whose post id (or
media path) another file already has (`posts.unique_post_paths`), then posts that do not
parse. The summary carries the first of each list within the inline budget
(models.inline_errors) and the full counts.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pressroom.config import Settings
from pressroom.content.media import describe_image, is_image_path, unique_media_paths
from pressroom.content.posts import is_post_path, unique_post_paths
from pressroom.content.sanitize import HtmlPolicy
from pressroom.embeddings.inputs import input_sha256, media_input
from pressroom.models import MediaItem, MediaRef, ParseSummary, PostError, inline_errors
from pressroom.steps import Progress
from pressroom.steps.parse_part import PartSummary, Snapshot, parse_one, part_path
from pressroom.steps.parse_pool import parse_parts
from pressroom.storage.base import Store
from pressroom.storage.workstore import WorkKeys, read_jsonl, read_post_errors, write_jsonl

# From this many posts the parse also runs in child processes (PARSE_PROCESSES in all, this
# one included): below it, starting one (~0.3 s) costs more than the second core saves.
PROCESS_POOL_MIN_POSTS = 2000

__all__ = ["html_policy_for", "parse_one", "parse_source"]


def html_policy_for(settings: Settings) -> HtmlPolicy:
    """The HTML policy of SANITIZE_HTML and IFRAME_HOSTS."""
    return HtmlPolicy(
        sanitize=settings.sanitize_html, iframe_hosts=tuple(settings.iframe_hosts)
    )


def _media_inputs(media: list[MediaItem]) -> Iterator[dict[str, Any]]:
    for item in media:
        alts = [ref.alt for ref in item.referenced_by]
        name = Path(item.path).name
        text = media_input(alts, item.description, name)
        # The image's hash, type, alt texts and name let the embed step rebuild the input
        # around a vision model's description (pressroom.steps.describe).
        yield {
            "id": item.path,
            "sha256": input_sha256(text),
            "input": text,
            "image_sha256": item.sha256,
            "mime": item.mime,
            "alts": alts,
            "name": name,
        }


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


def _concat(parts: list[Path], dest: Path) -> None:
    with dest.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)


def _split_lines(
    scratch: Path, keys: WorkKeys, kind: str, parts: list[Path], size: int
) -> list[tuple[str, Path]]:
    """Re-cut the parts' JSON lines into batch files of `size` lines, without parsing them."""
    out: list[tuple[str, Path]] = []
    (scratch / "embed").mkdir(parents=True, exist_ok=True)
    batch: list[bytes] = []

    def flush() -> None:
        path = scratch / "embed" / f"{kind}-{len(out):05d}.jsonl"
        path.write_bytes(b"".join(batch))
        out.append((keys.embed_inputs(kind, len(out)), path))

    for part in parts:
        with part.open("rb") as fh:
            for line in fh:
                batch.append(line)
                if len(batch) >= size:
                    flush()
                    batch = []
    if batch:
        flush()
    return out


def _media(snapshot: Snapshot, image_paths: list[str], refs: list[Path]) -> list[MediaItem]:
    """Every image, with the posts (and alt texts) that show it, in post order, deduplicated
    per (post, alt) as `media.attach_references` does."""
    media = {p: describe_image(p, snapshot.read(p)) for p in image_paths}
    seen: dict[str, dict[tuple[str, str], None]] = {}
    for part in refs:
        for post_id, path, alt in read_jsonl(part):
            if path in media:
                seen.setdefault(path, {})[(post_id, alt)] = None
    for path, pairs in seen.items():
        media[path].referenced_by = [MediaRef(post_id=p, alt=a) for p, a in pairs]
    return list(media.values())


async def parse_source(
    store: Store,
    keys: WorkKeys,
    scratch: Path,
    *,
    include_drafts: bool,
    batch_size: int,
    progress: Progress,
    max_post_bytes: int | None = None,
    keep_images: bool = False,
    processes: int = 1,
    html_policy: HtmlPolicy | None = None,
) -> ParseSummary:
    """Parse the snapshot, streaming: posts go to disk as they are parsed, never all in memory.

    With `processes` > 1 and at least PROCESS_POOL_MIN_POSTS posts, the posts are parsed in
    that many slices, one here and the others in child processes (parse_pool).
    `html_policy` None: the policy of the environment's settings (SANITIZE_HTML,
    IFRAME_HOSTS); a caller holding the worker's Settings passes `html_policy_for(settings)`.
    """
    if html_policy is None:
        html_policy = html_policy_for(Settings())
    tar_path = scratch / "source.tar"
    await store.get_file(keys.source, tar_path)
    fetch_errors = await read_post_errors(store, keys.fetch_errors, scratch / "fetch-errors")
    with Snapshot(tar_path) as snapshot:
        return await _parse_snapshot(
            store,
            keys,
            scratch,
            snapshot,
            tar_path,
            include_drafts=include_drafts,
            batch_size=batch_size,
            progress=progress,
            max_post_bytes=max_post_bytes,
            keep_images=keep_images,
            processes=processes,
            html_policy=html_policy,
            fetch_errors=fetch_errors,
        )


async def _parse_snapshot(
    store: Store,
    keys: WorkKeys,
    scratch: Path,
    snapshot: Snapshot,
    tar_path: Path,
    *,
    include_drafts: bool,
    batch_size: int,
    progress: Progress,
    max_post_bytes: int | None,
    keep_images: bool,
    processes: int,
    html_policy: HtmlPolicy,
    fetch_errors: list[PostError],
) -> ParseSummary:
    names = snapshot.names()
    post_paths, duplicate_posts = unique_post_paths(n for n in names if is_post_path(n))
    image_paths, duplicate_media = unique_media_paths(n for n in names if is_image_path(n))
    # Errors found before parsing, in the order the full list gives them.
    early = [*fetch_errors, *duplicate_posts, *duplicate_media]

    parts_dir = scratch / "parts"
    options: dict[str, Any] = {
        "include_drafts": include_drafts,
        "max_post_bytes": max_post_bytes,
        "progress": progress,
        "html_policy": html_policy,
    }
    parts = await parse_parts(
        snapshot,
        tar_path,
        post_paths,
        parts_dir,
        processes=processes if len(post_paths) >= PROCESS_POOL_MIN_POSTS else 1,
        **options,
    )
    summary = PartSummary()
    for part in parts:
        summary.merge(part)

    def files(kind: str) -> list[Path]:
        return [part_path(parts_dir, kind, k) for k in range(len(parts))]

    media_items = await asyncio.to_thread(_media, snapshot, image_paths, files("refs"))
    progress(len(post_paths), len(post_paths), "writing parsed data")

    def write_all() -> tuple[list[tuple[str, Path]], int, int]:
        written = [
            (keys.posts, scratch / "posts.jsonl"),
            (keys.media, scratch / "media.jsonl"),
            (keys.errors, scratch / "errors.jsonl"),
            (keys.warnings, scratch / "warnings.jsonl"),
            (keys.skipped, scratch / "skipped.jsonl"),
        ]
        _concat(files("posts"), written[0][1])
        write_jsonl(written[1][1], (m.model_dump(mode="json") for m in media_items))
        early_path = scratch / "early-errors.jsonl"
        write_jsonl(early_path, (e.model_dump(mode="json") for e in early))
        _concat([early_path, *files("errors")], written[2][1])
        _concat(files("warnings"), written[3][1])
        _concat(files("skipped"), written[4][1])
        text = _split_lines(scratch, keys, "text", files("inputs"), batch_size)
        media = _write_batches(scratch, keys, "media", _media_inputs(media_items), batch_size)
        return written + text + media, len(text), len(media)

    written, text_batches, media_batches = await asyncio.to_thread(write_all)
    for key, path in written:
        await store.put_file(key, path, "application/x-ndjson")
    if keep_images:
        # The embed-images step describes images from these copies (one per content hash).
        for item in {m.sha256: m for m in media_items}.values():
            data = await asyncio.to_thread(snapshot.read, item.path)
            await store.put_bytes(keys.image(item.sha256), data, item.mime)

    return ParseSummary(
        posts=summary.posts,
        sections=summary.sections,
        media=len(media_items),
        drafts_skipped=summary.drafts,
        skipped=[PostError(**e) for e in summary.skipped],
        errors=inline_errors([*early, *(PostError(**e) for e in summary.errors)]),
        error_count=len(early) + summary.error_count,
        warnings=[PostError(**e) for e in summary.warnings],
        warning_count=summary.warning_count,
        text_batches=text_batches,
        media_batches=media_batches,
    )
