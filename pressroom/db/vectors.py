"""pgvector values: the one embedding-dimension guard, and conversions to and from `Vector`.

Vector columns are untyped (`vector`), so the dimension is interpolated into DDL and queries
(`embedding::vector(d)`, the per-dimension HNSW indexes): `check_dims` is what keeps that
safe, and every module that builds such SQL goes through it.
"""

from __future__ import annotations

import numpy as np
from pgvector import Vector

__all__ = ["as_numpy", "check_dims", "to_vector"]

MAX_DIMENSIONS = 16_000  # pgvector's limit for the `vector` type


def check_dims(dims: object) -> int:
    """`dims` if it is a real positive int within pgvector's limit, else ValueError."""
    # Interpolated into SQL: only a real int (not a bool, not a str) may pass.
    if type(dims) is not int or not 0 < dims <= MAX_DIMENSIONS:
        raise ValueError(f"dimensions must be a positive int, got {dims!r}")
    return dims


def to_vector(embedding: np.ndarray | None, dims: int, what: str) -> Vector | None:
    """A float32 `Vector` of exactly `dims` dimensions (None stays None); `what` names the
    value in the error."""
    if embedding is None:
        return None
    vec = Vector(np.asarray(embedding, dtype=np.float32))
    if vec.dimensions() != dims:
        raise ValueError(f"{what}: embedding has {vec.dimensions()} dimensions, expected {dims}")
    return vec


def as_numpy(value: object) -> np.ndarray:
    """A stored vector as float32: a `Vector` from the pgvector codec, or an array-like."""
    return value.to_numpy() if isinstance(value, Vector) else np.asarray(value, dtype=np.float32)
