"""Image descriptions within the embed-images step, and their way into the later steps.

A media embed batch with a describer: each distinct image of the batch (bytes from the work
store, where the parse step put them) is described once, through the description cache, and
its embedding input becomes description + alt texts + file name. The batch writes
`vectors/media-NNNNN.descriptions.jsonl`; the load and build-artifacts steps fold those into
their local copy of `media.jsonl` with `apply_descriptions`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pressroom.embeddings.base import EmbeddingError
from pressroom.embeddings.inputs import input_sha256, media_input
from pressroom.embeddings.limiter import Abandoned
from pressroom.embeddings.vision import ImageDescriber, UnsupportedImage
from pressroom.models import MAX_INLINE_ERRORS, PostError
from pressroom.steps.env import EmbedEnv, StepEnv
from pressroom.storage.workstore import read_jsonl, write_jsonl

__all__ = ["apply_descriptions", "describe_rows", "descriptions_jsonl"]


@dataclass
class DescribeOutcome:
    described: int = 0  # images described by the model in this attempt
    reused: int = 0  # images whose description came from the cache
    undescribed: list[PostError] = field(default_factory=list)  # image path + reason
    descriptions: dict[str, str] = field(default_factory=dict)  # image path -> description


async def describe_rows(
    rows: list[dict[str, Any]], describer: ImageDescriber, env: EmbedEnv
) -> DescribeOutcome:
    """Describe the batch's images (through `env.descriptions`, the cache) and rewrite each
    row's `input` and `sha256` in place."""
    store, keys, cache = env.store, env.keys, env.descriptions
    mimes: dict[str, str] = {}
    for row in rows:
        if row.get("image_sha256"):
            mimes.setdefault(row["image_sha256"], row.get("mime", ""))
    found = await cache.get(sorted(mimes)) if cache else {}
    todo = [sha for sha in mimes if sha not in found]
    refused: dict[str, str] = {}
    # Requests in flight are the describer's limiter's business; this bounds the images
    # fetched and prepared ahead of it (memory), not the provider's load.
    gate = asyncio.Semaphore(describer.max_in_flight)
    stop = asyncio.Event()  # set by a failure: no new description starts
    failures: list[BaseException] = []
    done = 0

    async def one(sha: str) -> None:
        nonlocal done
        async with gate:
            if stop.is_set():
                return
            key = keys.image(sha)
            if not await store.exists(key):
                refused[sha] = "image bytes not in the work store (parsed without descriptions)"
                return
            try:
                data = await store.get_bytes(key)
                text = await describer.describe(data, mimes[sha], unless=stop)
            except UnsupportedImage as err:
                refused[sha] = f"not described: {err}"
                return
            except Abandoned:
                return
            except EmbeddingError as err:
                if not err.rate_limited:
                    raise
                # A 429: the descriptions already in flight are paid for, so they finish
                # (and reach the cache) while nothing new starts; then the batch fails and
                # Temporal retries it after the provider's retry-after.
                failures.append(err)
                stop.set()
                return
            if cache:
                await cache.put(sha, text)  # at once: a retry of this batch reuses it
            found[sha] = text
            done += 1
            env.progress(done, len(todo), "describing images")

    # A TaskGroup cancels the other descriptions as soon as one fails (a 429 does not fail
    # its task, see above).
    try:
        async with asyncio.TaskGroup() as group:
            for sha in todo:
                group.create_task(one(sha))
    except ExceptionGroup as failed:
        failures.extend(failed.exceptions)
    if failures:
        # Callers classify one error, not a group: a final one (401, quota) wins.
        final = [e for e in failures if isinstance(e, EmbeddingError) and not e.retryable]
        raise (final or failures)[0] from None

    outcome = DescribeOutcome(described=done, reused=len(mimes) - len(todo))
    _rewrite_inputs(rows, found, refused, outcome)
    return outcome


def _rewrite_inputs(
    rows: list[dict[str, Any]],
    found: dict[str, str],
    refused: dict[str, str],
    outcome: DescribeOutcome,
) -> None:
    """Each described row's input becomes description + alt texts + name; refused images
    are listed in `outcome.undescribed`."""
    for row in rows:
        sha = row.get("image_sha256")
        if sha in refused:
            if len(outcome.undescribed) < MAX_INLINE_ERRORS:
                outcome.undescribed.append(PostError(path=row["id"], reason=refused[sha]))
            continue
        if sha not in found:
            continue
        text = media_input(row.get("alts", []), found[sha], row.get("name", ""))
        row["input"], row["sha256"] = text, input_sha256(text)
        outcome.descriptions[row["id"]] = found[sha]


def descriptions_jsonl(descriptions: dict[str, str]) -> bytes:
    lines = (
        json.dumps({"id": path, "description": text}, ensure_ascii=False)
        for path, text in descriptions.items()
    )
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


async def apply_descriptions(env: StepEnv, media_batches: int, media_path: Path) -> int:
    """Fold the media batches' descriptions into the local `media.jsonl` at `media_path`;
    returns how many items got one. Batches without a descriptions file are skipped."""
    descriptions: dict[str, str] = {}
    for batch in range(media_batches):
        key = env.keys.descriptions("media", batch)
        if not await env.store.exists(key):
            continue
        local = env.scratch / f"media-{batch:05d}.descriptions.jsonl"
        await env.store.get_file(key, local)
        descriptions.update((r["id"], r["description"]) for r in read_jsonl(local))
    if not descriptions:
        return 0

    def rewrite() -> int:
        rows = list(read_jsonl(media_path))
        hits = 0
        for row in rows:
            text = descriptions.get(row.get("path", ""))
            if text is not None:
                row["description"] = text
                hits += 1
        write_jsonl(media_path, rows)
        return hits

    return await asyncio.to_thread(rewrite)
