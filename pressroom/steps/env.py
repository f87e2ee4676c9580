"""What every step is given besides its request: where it works, and with which clients.

A step is `async def step(request, env) -> Summary`. The request (a frozen dataclass beside
the step) says what to do; the env holds the I/O: the store and the job's work keys, a
scratch directory of the step's own, the progress sink and the clients the step needs. The
activities build both from the job and the worker; tests and the bench build them directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pressroom.publish.latest import RevisionOrder
from pressroom.steps import Progress, no_progress

__all__ = ["DatabaseEnv", "EmbedEnv", "Hook", "RevisionTarget", "StepEnv"]

if TYPE_CHECKING:
    import aiohttp
    import asyncpg

    from pressroom.embeddings.base import Embedder
    from pressroom.embeddings.cache import EmbeddingCache
    from pressroom.embeddings.vision import DescriptionCache, ImageDescriber
    from pressroom.storage.base import Store
    from pressroom.storage.workstore import WorkKeys

# Runs inside a step's transaction just before it commits: fault injection (raising there
# rolls the step back, and proves a failed job changes nothing).
Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class StepEnv:
    store: Store
    keys: WorkKeys
    scratch: Path  # the step's own: concurrent steps on one worker never share files
    progress: Progress = no_progress
    http: aiohttp.ClientSession | None = None  # the guarded session, for remote sources


@dataclass(frozen=True, kw_only=True)
class DatabaseEnv(StepEnv):
    """The env of a step that writes Postgres (load, publish, switch)."""

    pool: asyncpg.Pool
    before_commit: Hook | None = None


@dataclass(frozen=True, kw_only=True)
class EmbedEnv(StepEnv):
    """The env of an embed batch: the embedder, the embedding cache (None: none), and for
    media batches the image describer with its cache (None: alt texts and names only)."""

    embedder: Embedder
    cache: EmbeddingCache | None = None
    describer: ImageDescriber | None = None
    descriptions: DescriptionCache | None = None


@dataclass(frozen=True)
class RevisionTarget:
    """The revision a job makes: the site, its id, where it is published, the job's place in
    the site's history (`order`), and its output identity (pressroom.publish.layout)."""

    site: str
    revision_id: str
    job_id: str
    dist_folder: str = "dist"
    requested_at: datetime | None = None  # None: the load orders it by the database's now()
    output_key: str = ""
    kind: str = "full"  # `full` or `parse`

    @property
    def order(self) -> RevisionOrder:
        return RevisionOrder.of(self.requested_at, self.job_id)
