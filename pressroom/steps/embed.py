"""Step 3/4, embed: one batch of text (or media) inputs to vectors, through the cache.

Cache hits are reused; misses go to the provider in requests within its limits, and each
request's vectors are written to the cache as soon as they arrive, so a retried batch (or a
worker killed mid-batch) never sends the same input twice. An input the provider refuses
(a per-input 400) is isolated by bisection and reported; its row gets no vector (NaN in the
batch's `.npy`) and the rest of the batch is embedded. Media batches with a describer get
their image descriptions first (`steps.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pressroom.embeddings.base import Embedder, batched
from pressroom.embeddings.isolate import embed_isolating
from pressroom.models import MAX_INLINE_ERRORS, EmbeddingInfo, EmbedSummary, PostError
from pressroom.runtime.faults import fault_point
from pressroom.steps.describe import describe_rows, descriptions_jsonl
from pressroom.steps.embed_gate import provider_gate
from pressroom.steps.env import EmbedEnv
from pressroom.storage.workstore import read_jsonl, vectors_to_bytes

__all__ = ["EmbedInput", "embed_batch", "embedding_info"]


@dataclass(frozen=True)
class EmbedInput:
    kind: str  # "text" | "media"
    batch: int


def embedding_info(embedder: Embedder) -> EmbeddingInfo:
    return EmbeddingInfo(
        provider=embedder.provider,
        model=embedder.model,
        dimensions=embedder.dimensions,
        version=embedder.version,
    )


async def embed_batch(req: EmbedInput, env: EmbedEnv) -> EmbedSummary:
    kind, batch = req.kind, req.batch
    path = env.scratch / f"{kind}-{batch:05d}.jsonl"
    await env.store.get_file(env.keys.embed_inputs(kind, batch), path)
    rows = list(read_jsonl(path))
    described = None
    if kind == "media" and env.describer is not None:
        # Descriptions change the inputs (and their hashes) before the cache is consulted.
        described = await describe_rows(rows, env.describer, env)
        await env.store.put_bytes(
            env.keys.descriptions(kind, batch), descriptions_jsonl(described.descriptions)
        )
    found = await env.cache.get(sorted({r["sha256"] for r in rows})) if env.cache else {}
    # Identical inputs within a batch are embedded once.
    missing: dict[str, str] = {}
    for row in rows:
        if row["sha256"] not in found:
            missing.setdefault(row["sha256"], row["input"])
    todo = list(missing.items())
    refused = await _embed_missing(req, env, todo, found)
    failed = await _store_vectors(req, env, rows, found, refused)
    return EmbedSummary(
        kind=kind,
        batch=batch,
        inputs=len(rows),
        computed=len(todo) - len(refused),
        reused=len(rows) - len(todo),
        embedding=embedding_info(env.embedder),
        failed=len(failed),
        failures=failed[:MAX_INLINE_ERRORS],
        described=described.described if described else 0,
        descriptions_reused=described.reused if described else 0,
        undescribed=described.undescribed if described else [],
    )


async def _embed_missing(
    req: EmbedInput, env: EmbedEnv, todo: list[tuple[str, str]], found: dict[str, np.ndarray]
) -> dict[str, str]:
    """Embed the (sha256, input) pairs into `found` (and the cache); returns the inputs the
    provider refused, sha256 -> why."""
    embedder, cache = env.embedder, env.cache
    refused: dict[str, str] = {}
    done = 0
    # One provider request per chunk, so each request's vectors reach the cache before the
    # next request can fail.
    requests = batched(
        [text for _, text in todo], embedder.max_batch_inputs, embedder.max_batch_tokens
    )
    for number, request in enumerate(requests, 1):
        chunk = [todo[i] for i in request]

        async def keep(
            indices: list[int], vectors: np.ndarray, chunk: list[tuple[str, str]] = chunk
        ) -> None:
            pairs = [(chunk[i][0], vectors[k]) for k, i in enumerate(indices)]
            if cache:
                await cache.put(pairs)
            found.update(pairs)

        async with provider_gate(embedder):
            failures = await embed_isolating(embedder, [text for _, text in chunk], keep)
        refused.update((chunk[i][0], reason) for i, reason in failures.items())
        done += len(chunk)
        env.progress(done, len(todo), f"{req.kind} batch {req.batch}")
        await fault_point(f"embed-{req.kind}:batch-{req.batch}:after-request-{number}")
    return refused


async def _store_vectors(
    req: EmbedInput,
    env: EmbedEnv,
    rows: list[dict[str, Any]],
    found: dict[str, np.ndarray],
    refused: dict[str, str],
) -> list[PostError]:
    """The batch's `.npy` (and its refused inputs) to the work store; returns the refusals."""
    # A refused input's row stays NaN: the load and artifact steps store it without a vector.
    matrix = np.full((len(rows), env.embedder.dimensions), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        if row["sha256"] in found:
            matrix[i] = found[row["sha256"]]
    failed = [
        PostError(path=row["id"], reason=refused[row["sha256"]])
        for row in rows
        if row["sha256"] in refused
    ]
    keys = env.keys
    if failed:
        await env.store.put_bytes(
            keys.embed_failures(req.kind, req.batch),
            "".join(f"{e.model_dump_json()}\n" for e in failed).encode("utf-8"),
        )
    await env.store.put_bytes(keys.vectors(req.kind, req.batch), vectors_to_bytes(matrix))
    return failed
