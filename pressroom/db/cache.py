"""The cache tables: embeddings by (provider, model, dimensions, input sha256) and image
descriptions by (image sha256, vision model, prompt version).

Neither belongs to a revision: entries outlive every revision and are shared by all sites.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np

from pressroom.db.vectors import as_numpy, check_dims, to_vector

__all__ = ["get_cached_embeddings", "get_descriptions", "put_cached_embeddings", "put_description"]

# Keys per statement: bounded array parameters and lock batches.
_CACHE_CHUNK = 5_000

_GET_SQL = """
    SELECT input_sha256, embedding FROM embedding_cache
    WHERE provider = $1 AND model = $2 AND dimensions = $3
      AND input_sha256 = ANY($4::text[])
"""
_INSERT_SQL = """
    INSERT INTO embedding_cache (provider, model, dimensions, input_sha256, embedding)
    SELECT $1, $2, $3, t.sha, t.embedding
    FROM unnest($4::text[], $5::vector[]) AS t(sha, embedding)
    ON CONFLICT DO NOTHING
"""
_OVERWRITE_SQL = """
    INSERT INTO embedding_cache (provider, model, dimensions, input_sha256, embedding)
    SELECT $1, $2, $3, t.sha, t.embedding
    FROM unnest($4::text[], $5::vector[]) AS t(sha, embedding)
    ON CONFLICT (provider, model, dimensions, input_sha256)
    DO UPDATE SET embedding = EXCLUDED.embedding, created_at = now()
"""


async def get_cached_embeddings(
    conn: asyncpg.Connection, provider: str, model: str, dimensions: int, shas: Sequence[str]
) -> dict[str, np.ndarray]:
    """Cached embeddings (float32) by input sha256; shas not in the cache are absent."""
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(shas))
    for start in range(0, len(unique), _CACHE_CHUNK):
        chunk = unique[start : start + _CACHE_CHUNK]
        for row in await conn.fetch(_GET_SQL, provider, model, dimensions, chunk):
            found[row["input_sha256"]] = as_numpy(row["embedding"])
    return found


async def put_cached_embeddings(
    conn: asyncpg.Connection,
    provider: str,
    model: str,
    dimensions: int,
    items: Sequence[tuple[str, np.ndarray]],
    *,
    overwrite: bool = False,
) -> None:
    """Store embeddings by input sha256; an existing entry wins (ON CONFLICT DO NOTHING),
    unless `overwrite` (a forced re-embedding replaces what it recomputed)."""
    dims = check_dims(dimensions)
    sql = _OVERWRITE_SQL if overwrite else _INSERT_SQL
    # Sorted and deduplicated: concurrent writers then lock keys in the same order and
    # cannot deadlock on each other's unique-index entries.
    by_sha = {sha: vec for sha, vec in items}
    shas = sorted(by_sha)
    for start in range(0, len(shas), _CACHE_CHUNK):
        chunk = shas[start : start + _CACHE_CHUNK]
        # Vector objects, not ndarrays: asyncpg's array encoder would recurse into an ndarray.
        vectors = [to_vector(by_sha[sha], dims, f"cache entry {sha}") for sha in chunk]
        await conn.execute(sql, provider, model, dims, chunk, vectors)


async def get_descriptions(
    conn: asyncpg.Connection, model: str, prompt_version: str, shas: Sequence[str]
) -> dict[str, str]:
    """Stored image descriptions by image sha256; images not described yet are absent."""
    rows = await conn.fetch(
        """
        SELECT image_sha256, description FROM image_descriptions
        WHERE model = $1 AND prompt_version = $2 AND image_sha256 = ANY($3::text[])
        """,
        model,
        prompt_version,
        list(shas),
    )
    return {r["image_sha256"]: r["description"] for r in rows}


async def put_description(
    conn: asyncpg.Connection, model: str, prompt_version: str, sha: str, description: str
) -> None:
    """Store (or replace) one image's description."""
    await conn.execute(
        """
        INSERT INTO image_descriptions (image_sha256, model, prompt_version, description)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (image_sha256, model, prompt_version)
        DO UPDATE SET description = EXCLUDED.description, created_at = now()
        """,
        sha,
        model,
        prompt_version,
        description,
    )
