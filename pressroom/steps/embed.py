"""Step 3/4, embed: one batch of text (or media) inputs to vectors, through the cache.

Cache hits are reused; misses go to the provider in requests within its limits, and each
request's vectors are written to the cache as soon as they arrive, so a retried batch (or a
worker killed mid-batch) never sends the same input twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pressroom.embeddings.base import Embedder
from pressroom.embeddings.cache import EmbeddingCache
from pressroom.models import EmbeddingInfo, EmbedSummary
from pressroom.steps import Progress
from pressroom.storage import Store
from pressroom.workstore import WorkKeys, read_jsonl, vectors_to_bytes


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
) -> EmbedSummary:
    path = scratch / f"{kind}-{batch:05d}.jsonl"
    await store.get_file(keys.embed_inputs(kind, batch), path)
    rows = list(read_jsonl(path))
    shas = [r["sha256"] for r in rows]
    found = await cache.get(sorted(set(shas))) if cache else {}

    # Identical inputs within a batch are embedded once.
    missing: dict[str, str] = {}
    for row in rows:
        if row["sha256"] not in found:
            missing.setdefault(row["sha256"], row["input"])
    todo = list(missing.items())
    step = max(1, embedder.max_batch_inputs)
    for start in range(0, len(todo), step):
        chunk = todo[start : start + step]
        vectors = await embedder.embed([text for _, text in chunk])
        pairs = [(sha, vectors[i]) for i, (sha, _) in enumerate(chunk)]
        if cache:
            await cache.put(pairs)
        found.update(pairs)
        progress(start + len(chunk), len(todo), f"{kind} batch {batch}")

    matrix = np.zeros((len(rows), embedder.dimensions), dtype=np.float32)
    for i, sha in enumerate(shas):
        matrix[i] = found[sha]
    await store.put_bytes(keys.vectors(kind, batch), vectors_to_bytes(matrix))
    return EmbedSummary(
        kind=kind,
        batch=batch,
        inputs=len(rows),
        computed=len(todo),
        reused=len(rows) - len(todo),
        embedding=embedding_info(embedder),
    )
