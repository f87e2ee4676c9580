"""The embedding provider contract: the `Embedder` protocol, its errors, and request batching.

Every provider (the local hashing embedder, an OpenAI-compatible client) implements
`Embedder`; callers depend only on this module. Token counts here are estimates without a
tokenizer, deliberately on the high side so a batch never exceeds a provider's limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DEFAULT_MAX_BATCH_INPUTS",
    "DEFAULT_MAX_BATCH_TOKENS",
    "DEFAULT_MAX_INPUT_TOKENS",
    "Embedder",
    "EmbeddingError",
    "EmbeddingInputError",
    "batched",
    "estimate_tokens",
    "l2_normalize",
    "truncate_to_tokens",
]

# Provider limits from the OpenAI embeddings API; other providers declare their own.
DEFAULT_MAX_BATCH_INPUTS = 2048
DEFAULT_MAX_BATCH_TOKENS = 300_000
DEFAULT_MAX_INPUT_TOKENS = 8000


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    Implementations: `pressroom.embeddings.hashing.HashingEmbedder` (local, deterministic).
    An OpenAI-compatible client plugs in the same way: implement these attributes and
    `embed`, map HTTP failures to `EmbeddingError(retryable=...)`, and register a factory in
    `pressroom.embeddings.make_embedder`.
    """

    provider: str  # e.g. "hashing", "openai"
    model: str
    dimensions: int
    version: str  # bump when the input template or the algorithm changes: invalidates caches
    max_batch_inputs: int  # inputs per request
    max_batch_tokens: int  # estimated tokens per request (see `estimate_tokens`)
    max_input_tokens: int  # an input is truncated to this many estimated tokens beforehand

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`: shape (len(texts), dimensions), float32, unit rows, input order."""
        ...


class EmbeddingError(Exception):
    """A provider call failed. `retryable` tells the caller (Temporal) whether to try again."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        rate_limited: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the provider asked us to wait, when it said
        # A 429 that asks to slow down (not an exhausted quota): the limiter backs off.
        self.rate_limited = rate_limited

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only constructor arguments would be lost by the default pickling.
        return (_rebuild_error, (type(self), self.__dict__.copy()))


class EmbeddingInputError(EmbeddingError):
    """One input is unacceptable (too long, rejected by the provider): retrying cannot help."""

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message, retryable=False)
        self.index = index  # position of the failing input in the request


def _rebuild_error(cls: type[EmbeddingError], state: dict[str, object]) -> EmbeddingError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


def estimate_tokens(text: str) -> int:
    """A conservative token count without a tokenizer.

    BPE tokenizers average about 4 ASCII characters per token on English prose; a third is
    used to cover code and numbers. Non-ASCII characters count one token each because CJK
    text and emoji often cost one or more tokens per character. Many short words push the
    count up too, hence the 1.5 tokens per word floor.
    """
    if not text:
        return 0
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    by_chars = (len(text) - non_ascii) / 3 + non_ascii
    by_words = len(text.split()) * 1.5
    return math.ceil(max(by_chars, by_words))


def truncate_to_tokens(
    text: str,
    max_tokens: int,
    estimate: Callable[[str], int] = estimate_tokens,
) -> str:
    """The longest prefix of `text` whose estimate is within `max_tokens`, cut at a word end
    when one is near. `estimate` must not decrease as the prefix grows (true for the default).
    """
    if max_tokens <= 0:
        return ""
    if estimate(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)  # invariant: text[:lo] fits, text[:hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if estimate(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid
    cut = text[:lo]
    # Prefer not to end mid-word, unless that would throw away a big chunk (one long token).
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    if space >= lo * 0.8:
        cut = cut[:space]
    return cut.rstrip()


def batched(
    texts: Sequence[str],
    max_inputs: int,
    max_tokens: int,
    estimate_tokens: Callable[[str], int] = estimate_tokens,
) -> Iterator[list[int]]:
    """Split input indices, in order, into request batches of at most `max_inputs` inputs and
    at most `max_tokens` estimated tokens each.

    An input that alone exceeds `max_tokens` raises `EmbeddingInputError` with its index
    (the caller truncates inputs first, with `truncate_to_tokens`).
    """
    if max_inputs < 1 or max_tokens < 1:
        raise ValueError("max_inputs and max_tokens must be at least 1")
    batch: list[int] = []
    batch_tokens = 0
    for i, text in enumerate(texts):
        tokens = estimate_tokens(text)
        if tokens > max_tokens:
            raise EmbeddingInputError(
                f"input {i} has about {tokens} tokens, over the {max_tokens} per request",
                index=i,
            )
        if batch and (len(batch) >= max_inputs or batch_tokens + tokens > max_tokens):
            yield batch
            batch, batch_tokens = [], 0
        batch.append(i)
        batch_tokens += tokens
    if batch:
        yield batch


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32. A zero or non-finite row is a provider fault
    (nothing sensible can be ranked with it), reported as a non-retryable `EmbeddingError`.
    """
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-d array, got shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    bad = ~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise EmbeddingError(f"vector {index} is zero or not finite", retryable=False)
    return (arr / norms).astype(np.float32)
