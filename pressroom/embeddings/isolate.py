"""Embedding a request's inputs while isolating the ones a provider refuses.

A provider answers a 400 for a whole request when one input is unacceptable, without saying
which. `embed_isolating` bisects such a request until each refused input stands alone, hands
every successful sub-request's vectors to `on_vectors` at once (so the caller can cache them
before anything else can fail), and returns the refused inputs with the reason.

When every input of the request is refused, the fault may be the request itself (a model or
parameter the server does not accept): one known-good probe input tells the two apart, and a
refused probe raises a non-retryable `EmbeddingError` instead of blaming all the inputs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from pressroom.embeddings.base import Embedder, EmbeddingError, EmbeddingInputError

__all__ = ["embed_isolating"]

PROBE_INPUT = "probe"

OnVectors = Callable[[list[int], np.ndarray], Awaitable[None]]


async def embed_isolating(
    embedder: Embedder, texts: Sequence[str], on_vectors: OnVectors
) -> dict[int, str]:
    """Embed `texts` (one provider request's worth); returns {index: reason} of refused inputs.

    Retryable errors propagate (vectors already handed to `on_vectors` stay handed over).
    """
    failures: dict[int, str] = {}

    async def run(indices: list[int]) -> None:
        while indices:
            try:
                vectors = await embedder.embed([texts[i] for i in indices])
            except EmbeddingInputError as err:
                if 0 <= err.index < len(indices):
                    # The culprit is known: report it and send the others again.
                    failures[indices[err.index]] = err.message
                    indices = indices[: err.index] + indices[err.index + 1 :]
                    continue
                if len(indices) == 1:
                    failures[indices[0]] = err.message
                    return
                mid = len(indices) // 2
                await run(indices[:mid])
                await run(indices[mid:])
                return
            await on_vectors(indices, vectors)
            return

    await run(list(range(len(texts))))
    # Blank inputs are refused before any request: they say nothing about the provider.
    if failures and len(failures) == len(texts) and any(t.strip() for t in texts):
        try:
            await embedder.embed([PROBE_INPUT])
        except EmbeddingInputError as err:
            raise EmbeddingError(
                f"the provider refuses every request, not just some inputs: {err.message}",
                retryable=False,
            ) from err
    return failures
