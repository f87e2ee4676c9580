"""S3-compatible object storage (AWS S3, Cloudflare R2, MinIO) as a `Store`, with aioboto3.

Owns: the aioboto3 client (configured by `storage.s3_config.S3Config`), `open_s3_store`
(the client is created on enter and closed on exit), object metadata (content type,
cache-control, and the sha256 of the body in `x-amz-meta-sha256`, which lets a retried publish
skip what is already there), multipart uploads above a threshold, and the mapping of botocore
errors to `StorageError` with the right retryability. A `latest.json` written
without an explicit cache-control gets a short one: pointers must never be cached for long.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import aioboto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pressroom.config import Settings
from pressroom.storage.base import ObjectInfo, StorageError, check_key, sha256_file
from pressroom.storage.s3_config import S3Config, parse_s3_url, s3_location

__all__ = ["S3Store", "open_s3_store", "s3_client", "storage_error"]

SHA256_META = "sha256"  # stored as x-amz-meta-sha256
POINTER_NAME = "latest.json"
POINTER_CACHE_CONTROL = "public, max-age=60"
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_CHUNK = 1 << 20
# Error codes that no retry will fix: wrong credentials, missing bucket, bad request.
_PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "InvalidArgument",
        "InvalidBucketName",
        "InvalidRequest",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
    }
)
_RETRYABLE_4XX = frozenset({408, 409, 429})


@asynccontextmanager
async def s3_client(config: S3Config) -> AsyncIterator[Any]:
    """An aiobotocore S3 client, closed on exit."""
    boto_config = Config(
        s3={"addressing_style": config.addressing_style},
        # Temporal retries the activity; boto only smooths over a brief blip.
        retries={"mode": "standard", "max_attempts": 3},
        # R2 and older MinIO reject the newer default request checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=10,
        read_timeout=60,
    )
    session = aioboto3.Session()
    async with session.client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        config=boto_config,
    ) as client:
        yield client


def storage_error(action: str, where: str, exc: Exception) -> StorageError:
    """A StorageError for a failed S3 call: permanent faults are not retryable."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        permanent = code in _PERMANENT_CODES or (
            400 <= status < 500 and status not in _RETRYABLE_4XX
        )
        return StorageError(
            f"S3 {action} {where} failed: {code} (HTTP {status})", retryable=not permanent
        )
    if isinstance(exc, NoCredentialsError):
        return StorageError(f"S3 {action} {where}: no credentials configured", retryable=False)
    return StorageError(f"S3 {action} {where} failed: {type(exc).__name__}", retryable=True)


def _is_missing(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("404", "NoSuchKey", "NotFound") or status == 404


def _content_type(key: str, given: str | None) -> str:
    return given or mimetypes.guess_type(key)[0] or "application/octet-stream"


class S3Store:
    """A bucket (and optional key prefix) as a Store. Keys are relative to the prefix."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        multipart_threshold: int = 16 * 1024 * 1024,
        public_url: str | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = s3_location(bucket, self.prefix)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_threshold,
            max_concurrency=4,
        )

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def url_for(self, key: str) -> str:
        if self.public_url:
            return f"{self.public_url}/{check_key(key)}"
        return self._where(key)

    def _extra(
        self, key: str, content_type: str | None, cache_control: str | None, sha256: str
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "ContentType": _content_type(key, content_type),
            "Metadata": {SHA256_META: sha256},
        }
        if cache_control is None and PurePosixPath(key).name == POINTER_NAME:
            # Safety net for writers that do not say: a pointer must never be cached long.
            cache_control = POINTER_CACHE_CONTROL
        if cache_control:
            extra["CacheControl"] = cache_control
        return extra

    async def put_file(
        self,
        key: str,
        src: Path,
        content_type: str | None = None,
        *,
        cache_control: str | None = None,
        sha256: str | None = None,
    ) -> None:
        digest = sha256 or await asyncio.to_thread(sha256_file, src)
        extra = self._extra(key, content_type, cache_control, digest)
        try:
            # Multipart above the threshold; the parts carry the same metadata via
            # CreateMultipartUpload.
            await self.client.upload_file(
                str(src), self.bucket, self._key(key), ExtraArgs=extra, Config=self.transfer
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("upload", self._where(key), exc) from exc

    async def put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str | None = None,
        *,
        cache_control: str | None = None,
    ) -> None:
        extra = self._extra(key, content_type, cache_control, hashlib.sha256(data).hexdigest())
        try:
            await self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("upload", self._where(key), exc) from exc

    async def _get(self, key: str) -> Any:
        try:
            return await self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise StorageError(f"missing object {key}", retryable=False) from exc
            raise storage_error("download", self._where(key), exc) from exc
        except BotoCoreError as exc:
            raise storage_error("download", self._where(key), exc) from exc

    async def get_file(self, key: str, dest: Path) -> None:
        resp = await self._get(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            body = resp["Body"]
            # `async with body as x` would bind the raw aiohttp response, not the stream.
            async with body:
                with tmp.open("wb") as out:
                    while chunk := await body.read(_CHUNK):
                        out.write(chunk)
            tmp.replace(dest)
        except (ClientError, BotoCoreError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # the local disk, not S3
            raise storage_error("download", self._where(key), exc) from exc

    async def get_bytes(self, key: str) -> bytes:
        resp = await self._get(key)
        try:
            body = resp["Body"]
            async with body:
                return bytes(await body.read())
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("download", self._where(key), exc) from exc

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return None
            raise storage_error("stat", self._where(key), exc) from exc
        except BotoCoreError as exc:
            raise storage_error("stat", self._where(key), exc) from exc
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        return ObjectInfo(
            size=int(head.get("ContentLength", 0)),
            sha256=meta.get(SHA256_META),
            content_type=head.get("ContentType"),
            cache_control=head.get("CacheControl"),
        )

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def _list(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        rel = prefix.strip("/")
        full = f"{self._key(rel)}/" if rel else (f"{self.prefix}/" if self.prefix else "")
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for obj in page.get("Contents", []):
                    yield obj
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("list", f"s3://{self.bucket}/{full}", exc) from exc

    async def list_keys(self, prefix: str) -> list[str]:
        strip = f"{self.prefix}/" if self.prefix else ""
        return sorted([obj["Key"].removeprefix(strip) async for obj in self._list(prefix)])

    async def iter_children(self, prefix: str) -> AsyncIterator[str]:
        rel = prefix.strip("/")
        full = f"{self._key(rel)}/" if rel else (f"{self.prefix}/" if self.prefix else "")
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            # With a delimiter each page names the folders (common prefixes) and the objects
            # one level down: never the keys below them.
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    yield common["Prefix"].removeprefix(full)
                for obj in page.get("Contents", []):
                    yield obj["Key"].removeprefix(full)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("list", f"s3://{self.bucket}/{full}", exc) from exc

    async def delete_prefix(self, prefix: str, *, keep: Collection[str] = ()) -> int:
        if not prefix.strip("/"):
            raise StorageError("refusing to delete the whole store", retryable=False)
        kept = {self._key(key) for key in keep}
        keys = [obj["Key"] async for obj in self._list(prefix) if obj["Key"] not in kept]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                resp = await self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                raise storage_error("delete", f"s3://{self.bucket}/{prefix}", exc) from exc
            if resp.get("Errors"):
                first = resp["Errors"][0]
                raise StorageError(
                    f"S3 delete under {prefix} failed for {len(resp['Errors'])} keys "
                    f"(first: {first.get('Key')}: {first.get('Code')})"
                )
        return len(keys)


@asynccontextmanager
async def open_s3_store(url: str, settings: Settings | None = None) -> AsyncIterator[S3Store]:
    """The store at `s3://bucket/prefix`, configured from `settings` (default: the env)."""
    settings = settings or Settings()
    bucket, prefix = parse_s3_url(url)
    config = S3Config.from_settings(settings)
    async with s3_client(config) as client:
        yield S3Store(
            client,
            bucket,
            prefix,
            multipart_threshold=config.multipart_threshold,
            public_url=settings.artifacts_public_url,
        )
