"""Handing freed memory back to the operating system after a step.

CPython frees a step's objects as soon as it ends, but glibc keeps the freed pages in its
heaps (one arena per thread that allocated), so a long-running worker's RSS ratchets up to
the sum of every step's peak. `malloc_trim(0)` returns the free pages at the top and inside
each arena: the worker's RSS falls back to its working set between steps. A no-op where
glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from functools import cache

__all__ = ["release_memory"]

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl, macOS: no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


def release_memory() -> bool:
    """Return freed heap pages to the OS; True if the allocator supports it."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
