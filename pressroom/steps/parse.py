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
import dataclasses
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pressroom.config import Settings
from pressroom.content.media import describe_image, is_image_path, unique_media_paths
from pressroom.content.posts import is_post_path, unique_post_paths
from pressroom.content.sanitize import HtmlPolicy
from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import media_url
from pressroom.conventions.profile import SiteProfile
from pressroom.embeddings.inputs import input_sha256, media_input
from pressroom.models import (
    MediaItem,
    MediaRef,
    ParseSummary,
    PostError,
    ProfileSummary,
    inline_errors,
)
from pressroom.steps.env import StepEnv
from pressroom.steps.parse_part import (
    PartSummary,
    PostOptions,
    Snapshot,
    json_line,
    parse_one,
    part_path,
)
from pressroom.steps.parse_pool import parse_parts
from pressroom.storage.workstore import WorkKeys, read_jsonl, read_post_errors, write_jsonl

# From this many posts the parse also runs in child processes (PARSE_PROCESSES in all, this
# one included): below it, starting one (~0.3 s) costs more than the second core saves.
PROCESS_POOL_MIN_POSTS = 2000

__all__ = ["ParseInput", "html_policy_for", "parse_one", "parse_source"]


def html_policy_for(settings: Settings) -> HtmlPolicy:
    """The HTML policy of SANITIZE_HTML and IFRAME_HOSTS."""
    return HtmlPolicy(sanitize=settings.sanitize_html, iframe_hosts=tuple(settings.iframe_hosts))


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


def _concat(parts: list[Path], dest: Path) -> None:
    with dest.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)


def _lines_of(parts: list[Path]) -> Iterator[bytes]:
    for part in parts:
        with part.open("rb") as fh:
            yield from fh


def _json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    return (json_line(row).encode() for row in rows)


def _batch_files(
    scratch: Path, keys: WorkKeys, kind: str, lines: Iterable[bytes], size: int
) -> list[tuple[str, Path]]:
    """Cut embedding inputs (JSON lines) into batch files of `size` lines, without parsing
    them; returns (work store key, local path) pairs."""
    out: list[tuple[str, Path]] = []
    (scratch / "embed").mkdir(parents=True, exist_ok=True)
    batch: list[bytes] = []

    def flush() -> None:
        path = scratch / "embed" / f"{kind}-{len(out):05d}.jsonl"
        path.write_bytes(b"".join(batch))
        out.append((keys.embed_inputs(kind, len(out)), path))

    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            flush()
            batch = []
    if batch:
        flush()
    return out


def _media(
    snapshot: Snapshot, image_paths: list[str], refs: list[Path], profile: SiteProfile
) -> list[MediaItem]:
    """Every image, with the URL the site serves it at and the posts (and alt texts) that
    show it, in post order, deduplicated per (post, alt) as `media.attach_references` does."""
    media = {p: describe_image(p, snapshot.read(p)) for p in image_paths}
    for path, item in media.items():
        item.url = media_url(profile, path)
    seen: dict[str, dict[tuple[str, str], None]] = {}
    for part in refs:
        for post_id, path, alt in read_jsonl(part):
            if path in media:
                seen.setdefault(path, {})[(post_id, alt)] = None
    for path, pairs in seen.items():
        media[path].referenced_by = [MediaRef(post_id=p, alt=a) for p, a in pairs]
    return list(media.values())


@dataclass(frozen=True)
class ParseInput:
    """`batch_size` embedding inputs per batch file; `keep_images` copies each image to the
    work store for the describer; `processes` > 1 parses a large snapshot (at least
    PROCESS_POOL_MIN_POSTS posts) in that many slices, one here and the others in child
    processes (parse_pool). `html_policy` None: the policy of the environment's settings
    (SANITIZE_HTML, IFRAME_HOSTS); a caller holding Settings passes `html_policy_for`."""

    batch_size: int
    include_drafts: bool = False
    max_post_bytes: int | None = None
    keep_images: bool = False
    processes: int = 1
    html_policy: HtmlPolicy | None = None
    # The job's `data.profile` (or SITE_PROFILE) and `data.baseUrl`: None detects / reads
    # them from the tree (pressroom.conventions.detect).
    profile: str | None = None
    base_url: str | None = None

    def post_options(self) -> PostOptions:
        policy = self.html_policy or html_policy_for(Settings())
        return PostOptions(self.include_drafts, self.max_post_bytes, policy)

    def for_job(self, profile: str | None, base_url: str | None) -> ParseInput:
        return dataclasses.replace(self, profile=profile, base_url=base_url)


async def parse_source(req: ParseInput, env: StepEnv) -> ParseSummary:
    """Parse the snapshot, streaming: posts go to disk as they are parsed, never all in memory."""
    options = req.post_options()
    tar_path = env.scratch / "source.tar"
    await env.store.get_file(env.keys.source, tar_path)
    fetch_errors = await read_post_errors(
        env.store, env.keys.fetch_errors, env.scratch / "fetch-errors"
    )
    with Snapshot(tar_path) as snapshot:
        names = snapshot.names()
        profile = await asyncio.to_thread(
            detect_profile,
            names,
            snapshot.read,
            size=snapshot.size,
            name=req.profile,
            base_url=req.base_url,
        )
        options = dataclasses.replace(options, profile=profile)
        await env.store.put_bytes(
            env.keys.profile, profile.model_dump_json().encode(), "application/json"
        )
        post_paths, duplicate_posts = unique_post_paths(n for n in names if is_post_path(n))
        image_paths, duplicate_media = unique_media_paths(n for n in names if is_image_path(n))
        # Errors found before parsing, in the order the full list gives them.
        early = [*fetch_errors, *duplicate_posts, *duplicate_media]
        parts_dir = env.scratch / "parts"
        processes = req.processes if len(post_paths) >= PROCESS_POOL_MIN_POSTS else 1
        parts = await parse_parts(
            snapshot,
            tar_path,
            post_paths,
            parts_dir,
            options,
            processes=processes,
            progress=env.progress,
        )
        summary = PartSummary()
        for part in parts:
            summary.merge(part)
        part_files = _PartFiles(parts_dir, len(parts))
        media_items = await asyncio.to_thread(
            _media, snapshot, image_paths, part_files.of("refs"), profile
        )
        env.progress(len(post_paths), len(post_paths), "writing parsed data")
        text_batches, media_batches = await _write_outputs(req, env, part_files, early, media_items)
        if req.keep_images:
            # The embed-images step describes images from these copies (one per content hash).
            for item in {m.sha256: m for m in media_items}.values():
                data = await asyncio.to_thread(snapshot.read, item.path)
                await env.store.put_bytes(env.keys.image(item.sha256), data, item.mime)
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
        profile=ProfileSummary(
            **profile.model_dump(include={"name", "detected", "root", "config", "base_url"}),
            contributed=profile.contributed,
        ),
    )


@dataclass(frozen=True)
class _PartFiles:
    out: Path
    parts: int

    def of(self, kind: str) -> list[Path]:
        return [part_path(self.out, kind, k) for k in range(self.parts)]


async def _write_outputs(
    req: ParseInput,
    env: StepEnv,
    parts: _PartFiles,
    early: list[PostError],
    media_items: list[MediaItem],
) -> tuple[int, int]:
    """Concatenate the parts into the work store's files and cut the embedding inputs into
    batches; returns (text batches, media batches)."""
    scratch, keys = env.scratch, env.keys

    def write_all() -> tuple[list[tuple[str, Path]], int, int]:
        written = [
            (keys.posts, scratch / "posts.jsonl"),
            (keys.media, scratch / "media.jsonl"),
            (keys.errors, scratch / "errors.jsonl"),
            (keys.warnings, scratch / "warnings.jsonl"),
            (keys.skipped, scratch / "skipped.jsonl"),
        ]
        _concat(parts.of("posts"), written[0][1])
        write_jsonl(written[1][1], (m.model_dump(mode="json") for m in media_items))
        early_path = scratch / "early-errors.jsonl"
        write_jsonl(early_path, (e.model_dump(mode="json") for e in early))
        _concat([early_path, *parts.of("errors")], written[2][1])
        _concat(parts.of("warnings"), written[3][1])
        _concat(parts.of("skipped"), written[4][1])
        size = req.batch_size
        text = _batch_files(scratch, keys, "text", _lines_of(parts.of("inputs")), size)
        media = _batch_files(scratch, keys, "media", _json_lines(_media_inputs(media_items)), size)
        return written + text + media, len(text), len(media)

    written, text_batches, media_batches = await asyncio.to_thread(write_all)
    for key, path in written:
        await env.store.put_file(key, path, "application/x-ndjson")
    return text_batches, media_batches
