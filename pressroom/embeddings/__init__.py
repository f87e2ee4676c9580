"""Embedding providers behind one protocol, and `make_embedder` to pick one from settings.

A new provider (e.g. an OpenAI-compatible client) is a module implementing
`base.Embedder` plus one entry in `_FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable

from pressroom.config import Settings
from pressroom.embeddings.base import (
    Embedder,
    EmbeddingError,
    EmbeddingInputError,
    batched,
    estimate_tokens,
    l2_normalize,
    truncate_to_tokens,
)
from pressroom.embeddings.hashing import HashingEmbedder
from pressroom.embeddings.inputs import cache_key, input_sha256, media_input, section_input

__all__ = [
    "Embedder",
    "EmbeddingError",
    "EmbeddingInputError",
    "HashingEmbedder",
    "batched",
    "cache_key",
    "estimate_tokens",
    "input_sha256",
    "known_providers",
    "l2_normalize",
    "make_embedder",
    "media_input",
    "section_input",
    "truncate_to_tokens",
]


def _hashing(settings: Settings) -> Embedder:
    if settings.embedding_model != HashingEmbedder.model:
        raise ValueError(
            f"EMBEDDING_MODEL={settings.embedding_model!r} is not available with "
            f"EMBEDDING_PROVIDER=hashing; the hashing provider has one model, "
            f"{HashingEmbedder.model!r}"
        )
    return HashingEmbedder(dimensions=settings.embedding_dimensions)


# provider name (EMBEDDING_PROVIDER) -> factory. Factories import heavy clients lazily.
_FACTORIES: dict[str, Callable[[Settings], Embedder]] = {
    "hashing": _hashing,
}


def known_providers() -> list[str]:
    return sorted(_FACTORIES)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder `EMBEDDING_PROVIDER` names, configured from `settings`."""
    provider = settings.embedding_provider.strip().lower()
    factory = _FACTORIES.get(provider)
    if factory is None:
        raise ValueError(
            f"unknown EMBEDDING_PROVIDER {settings.embedding_provider!r}; "
            f"known providers: {', '.join(known_providers())}"
        )
    return factory(settings)
