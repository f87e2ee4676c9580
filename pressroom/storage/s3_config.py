"""How to reach an S3-compatible service and what an `s3://bucket/prefix` URL names.

No boto here: settings, source policies and the API read this without loading aioboto3,
which only pressroom.storage.s3 imports, when an s3:// store or source is actually used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pressroom.config import Settings
from pressroom.storage.base import StorageError, check_key

__all__ = ["S3Config", "parse_s3_url", "s3_location"]

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Config:
    """How to reach an S3-compatible service. Credentials are kept out of `repr`."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    addressing_style: str = "auto"
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    multipart_threshold: int = 16 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Config:
        key, secret = settings.aws_access_key_id, settings.aws_secret_access_key
        return cls(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,
            access_key_id=key.get_secret_value() if key else None,
            secret_access_key=secret.get_secret_value() if secret else None,
            multipart_threshold=settings.s3_multipart_threshold,
        )


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` -> ("bucket", "some/prefix"); StorageError if malformed."""
    if not url.startswith("s3://"):
        raise StorageError(f"not an s3:// URL: {url!r}", retryable=False)
    bucket, prefix = _split(url)
    if not _BUCKET.match(bucket):
        raise StorageError(f"invalid S3 bucket name {bucket!r}", retryable=False)
    if prefix:
        check_key(prefix)
    return bucket, prefix


def s3_location(bucket: str, prefix: str = "") -> str:
    """How a store at `bucket`/`prefix` names itself (`Store.location`)."""
    prefix = prefix.strip("/")
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def s3_url_location(url: str) -> str:
    """`s3_location` of an `s3://` URL, without validating it (the API records published
    folders under this name, and must not refuse what the store itself will judge)."""
    return s3_location(*_split(url))
