"""The embedding cache: unchanged inputs are never sent to the provider again.

Keyed by (provider, model@version, dimensions, sha256 of the exact input), so a changed
model, dimension count or input template misses by construction. Backed by Postgres.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import asyncpg
import numpy as np

from pressroom.db.cache import get_cached_embeddings, put_cached_embeddings

__all__ = ["EmbeddingCache", "PostgresEmbeddingCache"]


class EmbeddingCache(Protocol):
    async def get(self, shas: Sequence[str]) -> dict[str, np.ndarray]: ...

    async def put(self, items: Sequence[tuple[str, np.ndarray]]) -> None: ...


class PostgresEmbeddingCache:
    """The cache table in Pressroom's own database.

    With `refresh` (a forced re-index) it reads nothing, so every input is embedded again,
    and what is embedded replaces the cached entry.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        provider: str,
        model: str,
        version: str,
        dimensions: int,
        *,
        refresh: bool = False,
    ) -> None:
        self.pool = pool
        self.provider = provider
        self.model_key = f"{model}@{version}"
        self.dimensions = dimensions
        self.refresh = refresh

    async def get(self, shas: Sequence[str]) -> dict[str, np.ndarray]:
        if self.refresh:
            return {}
        async with self.pool.acquire() as conn:
            return await get_cached_embeddings(
                conn, self.provider, self.model_key, self.dimensions, shas
            )

    async def put(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        if not items:
            return
        async with self.pool.acquire() as conn:
            await put_cached_embeddings(
                conn,
                self.provider,
                self.model_key,
                self.dimensions,
                items,
                overwrite=self.refresh,
            )
