"""How many embedding requests one worker process runs at once, per provider.

A job fans its batches out `EMBED_CONCURRENCY` at a time, which hides a remote provider's
latency. A local, CPU-bound embedder gains nothing from that (one core's worth of work under
the GIL) and pays for it in memory: four hashing batches side by side take twice as long as
four in a row and hold about 2.5 times the scratch memory. So CPU-bound providers run one
request at a time per worker. Remote providers are not gated here: their requests in flight
follow the provider's rate limits within `PROVIDER_MAX_IN_FLIGHT`, in the provider client
(`pressroom.embeddings.limiter`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pressroom.embeddings.base import Embedder

__all__ = ["provider_gate"]

# provider -> requests in flight per worker process; absent: no limit here
PROVIDER_CONCURRENCY: dict[str, int] = {"hashing": 1}

_gates: dict[tuple[int, str], asyncio.Semaphore] = {}


@contextlib.asynccontextmanager
async def provider_gate(embedder: Embedder) -> AsyncIterator[None]:
    """Hold one of the provider's slots in this process while embedding."""
    limit = PROVIDER_CONCURRENCY.get(embedder.provider)
    if limit is None:
        yield
        return
    # One semaphore per event loop: an asyncio primitive must not cross loops (tests run
    # workers on several).
    key = (id(asyncio.get_running_loop()), embedder.provider)
    gate = _gates.get(key)
    if gate is None:
        gate = _gates[key] = asyncio.Semaphore(limit)
    async with gate:
        yield
