"""Embedding providers behind one protocol, and `make_embedder` to pick one from settings.

A new provider is a module implementing `base.Embedder` plus one entry in `_FACTORIES`.
`EMBEDDING_PROVIDER=auto` (the default) picks `openai` when `OPENAI_API_KEY` or
`OPENAI_BASE_URL` is set and `hashing` otherwise; `EMBEDDING_MODEL` unset picks the
provider's default model.
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

OPENAI_DEFAULT_MODEL = "text-embedding-3-small"  # pressroom.embeddings.openai.DEFAULT_MODEL

__all__ = [
    "DEFAULT_MODELS",
    "Embedder",
    "EmbeddingError",
    "EmbeddingInputError",
    "HashingEmbedder",
    "aclose_embedder",
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


# EMBEDDING_MODEL when unset, per provider.
DEFAULT_MODELS: dict[str, str] = {"hashing": HashingEmbedder.model, "openai": OPENAI_DEFAULT_MODEL}


def _hashing(settings: Settings) -> Embedder:
    if settings.embedding_model not in (None, HashingEmbedder.model):
        raise ValueError(
            f"EMBEDDING_MODEL={settings.embedding_model!r} is not available with "
            f"EMBEDDING_PROVIDER=hashing; the hashing provider has one model, "
            f"{HashingEmbedder.model!r}"
        )
    return HashingEmbedder(dimensions=settings.embedding_dimensions)


def _openai(settings: Settings) -> Embedder:
    from pressroom.embeddings.openai import OpenAIEmbedder

    return OpenAIEmbedder.from_settings(settings, settings.embedding_model or OPENAI_DEFAULT_MODEL)


# provider name (EMBEDDING_PROVIDER) -> factory. Factories import heavy clients lazily.
_FACTORIES: dict[str, Callable[[Settings], Embedder]] = {
    "hashing": _hashing,
    "openai": _openai,
}


def known_providers() -> list[str]:
    return sorted(_FACTORIES)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder `EMBEDDING_PROVIDER` names, configured from `settings`.

    An embedder may hold an HTTP client: release it with `aclose_embedder` when done.
    """
    provider = settings.resolved_embedding_provider
    factory = _FACTORIES.get(provider)
    if factory is None:
        raise ValueError(
            f"unknown EMBEDDING_PROVIDER {settings.embedding_provider!r}; "
            f"known providers: {', '.join(known_providers())}"
        )
    return factory(settings)


async def aclose_embedder(embedder: Embedder) -> None:
    """Release what an embedder holds (the OpenAI client's connections); a no-op otherwise."""
    close = getattr(embedder, "aclose", None)
    if close is not None:
        await close()
