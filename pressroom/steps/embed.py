"""Step 3/4, embed: one batch of text (or media) inputs to vectors, through the cache.

Cache hits are reused; misses go to the provider in requests within its limits, and each
request's vectors are written to the cache as soon as they arrive, so a retried batch (or a
worker killed mid-batch) never sends the same input twice. An input the provider refuses
(a per-input 400) is isolated by bisection and reported; its row gets no vector (NaN in the
batch's `.npy`) and the rest of the batch is embedded. Media batches with a describer get
their image descriptions first (`steps.describe`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pressroom.embeddings.base import Embedder, batched
from pressroom.embeddings.cache import EmbeddingCache
from pressroom.embeddings.isolate import embed_isolating
from pressroom.embeddings.vision import DescriptionCache, ImageDescriber
from pressroom.models import MAX_INLINE_ERRORS, EmbeddingInfo, EmbedSummary, PostError
from pressroom.runtime.faults import fault_point
from pressroom.steps import Progress
from pressroom.steps.describe import describe_rows, descriptions_jsonl
from pressroom.steps.embed_gate import provider_gate
from pressroom.storage.base import Store
from pressroom.storage.workstore import WorkKeys, read_jsonl, vectors_to_bytes


def embedding_info(embedder: Embedder) -> EmbeddingInfo:
    return EmbeddingInfo(
        provider=embedder.provider,
        model=embedder.model,
        dimensions=embedder.dimensions,
        version=embedder.version,
    )


async def embed_batch(
    store: Store,
    keys: WorkKeys,
    kind: str,
    batch: int,
    embedder: Embedder,
    cache: EmbeddingCache | None,
    scratch: Path,
    progress: Progress,
    describer: ImageDescriber | None = None,
    descriptions: DescriptionCache | None = None,
) -> EmbedSummary:
    path = scratch / f"{kind}-{batch:05d}.jsonl"
    await store.get_file(keys.embed_inputs(kind, batch), path)
    rows = list(read_jsonl(path))
    described = None
    if kind == "media" and describer is not None:
        # Descriptions change the inputs (and their hashes) before the cache is consulted.
        described = await describe_rows(store, keys, rows, describer, descriptions, progress)
        await store.put_bytes(
            keys.descriptions(kind, batch), descriptions_jsonl(described.descriptions)
        )
    shas = [r["sha256"] for r in rows]
    found = await cache.get(sorted(set(shas))) if cache else {}

    # Identical inputs within a batch are embedded once.
    missing: dict[str, str] = {}
    for row in rows:
        if row["sha256"] not in found:
            missing.setdefault(row["sha256"], row["input"])
    todo = list(missing.items())
    refused: dict[str, str] = {}  # input sha256 -> why the provider refused it
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
        progress(done, len(todo), f"{kind} batch {batch}")
        await fault_point(f"embed-{kind}:batch-{batch}:after-request-{number}")

    # A refused input's row stays NaN: the load and artifact steps store it without a vector.
    matrix = np.full((len(rows), embedder.dimensions), np.nan, dtype=np.float32)
    for i, sha in enumerate(shas):
        if sha in found:
            matrix[i] = found[sha]
    failed = [
        PostError(path=row["id"], reason=refused[row["sha256"]])
        for row in rows
        if row["sha256"] in refused
    ]
    if failed:
        await store.put_bytes(
            keys.embed_failures(kind, batch),
            "".join(f"{e.model_dump_json()}\n" for e in failed).encode("utf-8"),
        )
    await store.put_bytes(keys.vectors(kind, batch), vectors_to_bytes(matrix))
    return EmbedSummary(
        kind=kind,
        batch=batch,
        inputs=len(rows),
        computed=len(todo) - len(refused),
        reused=len(rows) - len(todo),
        embedding=embedding_info(embedder),
        failed=len(failed),
        failures=failed[:MAX_INLINE_ERRORS],
        described=described.described if described else 0,
        descriptions_reused=described.reused if described else 0,
        undescribed=described.undescribed if described else [],
    )
