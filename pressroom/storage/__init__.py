"""Storage: the `Store` protocol every backend implements (`base`), a local directory
(`local`), S3-compatible buckets (`s3`, with its boto-free configuration in `s3_config`), and
the claim-check work store where a job's intermediate data lives between steps (`workstore`,
`_work/{jobId}/`). `open_store` opens the backend a URL names; aioboto3 is imported only when
that URL is `s3://`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pressroom.storage.base import ObjectInfo, StorageError, Store
from pressroom.storage.local import LocalStore
from pressroom.storage.s3_config import s3_url_location

if TYPE_CHECKING:
    from pressroom.config import Settings

__all__ = ["LocalStore", "ObjectInfo", "StorageError", "Store", "open_store", "store_location"]


@asynccontextmanager
async def open_store(url: str, settings: Settings | None = None) -> AsyncIterator[Store]:
    """Open the store named by `url`: a path, a `file://` URL or `s3://bucket/prefix`.

    S3 connection settings (endpoint, region, credentials) come from `settings`, or from the
    environment when it is None.
    """
    if url.startswith("s3://"):
        from pressroom.storage.s3 import open_s3_store  # boto is only loaded when used

        async with open_s3_store(url, settings) as s3_store:
            yield s3_store
        return
    yield LocalStore(Path(url.removeprefix("file://")))


def store_location(url: str) -> str:
    """The `location` the store opened from `url` will have, without opening it: what
    Postgres records published folders under (pressroom.publish)."""
    if url.startswith("s3://"):
        return s3_url_location(url)
    return str(Path(url.removeprefix("file://")).resolve())
