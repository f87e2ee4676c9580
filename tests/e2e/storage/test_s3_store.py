"""S3Store against moto's S3 server (the real S3 protocol): objects, metadata, multipart,
listing and deletion, error classification, and the publish step's skip-if-already-there."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pressroom.config import Settings
from pressroom.db.pool import create_pool
from pressroom.models import ArtifactFile, PublishSummary
from pressroom.publish.layout import PublishRefused
from pressroom.steps.env import DatabaseEnv, RevisionTarget
from pressroom.steps.publish import (
    LATEST_CACHE_CONTROL,
    REVISION_CACHE_CONTROL,
    PublishInput,
    publish_artifacts,
)
from pressroom.storage import LocalStore, StorageError, Store, open_store
from pressroom.storage.base import sha256_file
from pressroom.storage.s3 import S3Store
from pressroom.storage.s3_config import parse_s3_url
from pressroom.storage.workstore import WorkKeys
from tests.conftest import REPO_ROOT
from tests.fakes.moto import (
    moto_endpoint,  # noqa: F401 - fixture
    s3_admin,
    s3_bucket,  # noqa: F401 - fixture
    s3_settings,
)

MiB = 1024 * 1024


@pytest.fixture
async def store(moto_endpoint: str, s3_bucket: str) -> AsyncIterator[S3Store]:  # noqa: F811
    settings = s3_settings(Settings(), moto_endpoint, s3_multipart_threshold=5 * MiB)
    async with open_store(f"s3://{s3_bucket}/root/", settings) as opened:
        assert isinstance(opened, S3Store)
        yield opened


_LOADED = "import sys, {module}; print(sorted({{'aioboto3', 'boto3'}} & set(sys.modules)))"


def _boto_loaded_by(module: str) -> str:
    """Which of aioboto3/boto3 a fresh interpreter has loaded after importing `module`."""
    done = subprocess.run(
        [sys.executable, "-c", _LOADED.format(module=module)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def test_boto_is_loaded_only_when_s3_is_used() -> None:
    # A worker without s3:// stores or sources never pays for aioboto3 (seconds, ~100 MB).
    assert _boto_loaded_by("pressroom.starter.worker") == "[]"
    assert _boto_loaded_by("pressroom.api.app") == "[]"
    # The probe sees boto when it is there: the S3 store itself imports it.
    assert _boto_loaded_by("pressroom.storage.s3") == "['aioboto3', 'boto3']"


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://my-bucket") == ("my-bucket", "")
    assert parse_s3_url("s3://my-bucket/a/b/") == ("my-bucket", "a/b")
    for bad in ("s3://UPPER/x", "s3://a/../x", "s3://b/x//y", "file:///x"):
        with pytest.raises(StorageError):
            parse_s3_url(bad)


async def test_objects_round_trip_with_metadata(
    store: S3Store,
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    await store.put_bytes("d/latest.json", b'{"r":1}', "application/json")
    src = tmp_path / "posts.json"
    src.write_bytes(b'{"posts":[]}')
    await store.put_file(
        "d/r1/posts.json", src, "application/json", cache_control=REVISION_CACHE_CONTROL
    )
    head = s3_admin(moto_endpoint).head_object(Bucket=s3_bucket, Key="root/d/r1/posts.json")
    assert head["ContentType"] == "application/json"
    assert head["CacheControl"] == REVISION_CACHE_CONTROL
    assert head["Metadata"]["sha256"] == sha256_file(src)
    # A pointer written without a cache-control still gets a short one.
    latest = s3_admin(moto_endpoint).head_object(Bucket=s3_bucket, Key="root/d/latest.json")
    assert latest["CacheControl"] == LATEST_CACHE_CONTROL

    info = await store.stat("d/r1/posts.json")
    assert info is not None and info.sha256 == sha256_file(src) and info.size == 12
    assert await store.stat("d/r1/missing.json") is None
    assert await store.exists("d/latest.json") and not await store.exists("d/nope")
    assert await store.get_bytes("d/latest.json") == b'{"r":1}'
    await store.get_file("d/r1/posts.json", tmp_path / "back" / "posts.json")
    assert (tmp_path / "back" / "posts.json").read_bytes() == src.read_bytes()
    assert await store.list_keys("d") == ["d/latest.json", "d/r1/posts.json"]
    assert await store.list_keys("d/r1/") == ["d/r1/posts.json"]
    assert await store.list_keys("") == ["d/latest.json", "d/r1/posts.json"]
    assert store.url_for("d/latest.json") == f"s3://{s3_bucket}/root/d/latest.json"

    with pytest.raises(StorageError, match="missing object") as missing:
        await store.get_bytes("d/nope")
    assert not missing.value.retryable
    with pytest.raises(StorageError):
        await store.put_bytes("../escape", b"x")

    assert await store.delete_prefix("d/r1") == 1
    assert await store.list_keys("") == ["d/latest.json"]
    with pytest.raises(StorageError, match="whole store"):
        await store.delete_prefix("")


async def test_large_files_use_multipart(
    store: S3Store,
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    big = tmp_path / "search.json"
    big.write_bytes(os.urandom(11 * MiB))
    await store.put_file("big/search.json", big, "application/json")
    head = s3_admin(moto_endpoint).head_object(Bucket=s3_bucket, Key="root/big/search.json")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    assert head["Metadata"]["sha256"] == sha256_file(big)
    assert head["ContentType"] == "application/json"
    await store.get_file("big/search.json", tmp_path / "back.json")
    assert sha256_file(tmp_path / "back.json") == sha256_file(big)


async def test_public_url_and_location(moto_endpoint: str, s3_bucket: str) -> None:  # noqa: F811
    settings = s3_settings(
        Settings(), moto_endpoint, artifacts_public_url="https://assets.example.com/blog/"
    )
    async with open_store(f"s3://{s3_bucket}", settings) as opened:
        assert opened.location == f"s3://{s3_bucket}"
        assert opened.url_for("dist/latest.json") == "https://assets.example.com/blog/dist/latest.json"
        await opened.put_bytes("dist/latest.json", b"{}")
        assert await opened.list_keys("dist") == ["dist/latest.json"]


async def test_many_keys_list_and_delete(store: S3Store) -> None:
    # More than one list page (1000) and one DeleteObjects batch.
    keys = [f"_work/job/k{i:04d}" for i in range(1005)]
    gate = asyncio.Semaphore(16)

    async def put(key: str) -> None:
        async with gate:
            await store.put_bytes(key, b"x")

    await asyncio.gather(*(put(key) for key in keys))
    assert await store.list_keys("_work/job") == keys
    assert await store.delete_prefix("_work/job") == 1005
    assert await store.list_keys("_work") == []


async def test_errors_are_classified(moto_endpoint: str) -> None:  # noqa: F811
    settings = s3_settings(Settings(), moto_endpoint)
    async with open_store("s3://no-such-bucket-here/x", settings) as missing_bucket:
        with pytest.raises(StorageError, match="NoSuchBucket") as err:
            await missing_bucket.put_bytes("k", b"x")
        assert not err.value.retryable
    # Nothing listens on this port: a transient fault, worth retrying.
    dead = s3_settings(Settings(), "http://127.0.0.1:9")
    async with open_store("s3://some-bucket/x", dead) as unreachable:
        with pytest.raises(StorageError) as down:
            await unreachable.put_bytes("k", b"x")
        assert down.value.retryable


# --- publish: bounded, concurrent, skips what is already there ---------------------------


async def stage_artifacts(store: Store, keys: WorkKeys, tmp_path: Path) -> list[str]:
    names = ["posts.json", "media.json", "search.json"]
    files = {}
    for name in names:
        body = json.dumps({"name": name, "pad": "x" * 1000}).encode()
        files[name] = {"bytes": len(body)}
        await store.put_bytes(keys.artifact(name), body, "application/json")
    manifest = {
        "revision": "r-1",
        "outputKey": OUTPUT_KEY,
        "created_at": "2026-01-01T00:00:00Z",
        "files": files,
    }
    await store.put_bytes(keys.artifact("manifest.json"), json.dumps(manifest).encode())
    return [*names, "manifest.json"]


OUTPUT_KEY = "output-key-of-r-1"


async def publish(
    store: Store,
    keys: WorkKeys,
    files: list[str],
    scratch: Path,
    pg_url: str,
    output_key: str = OUTPUT_KEY,
) -> PublishSummary:
    scratch.mkdir(parents=True, exist_ok=True)
    pool = await create_pool(pg_url, min_size=1, max_size=2)
    try:
        target = RevisionTarget(
            site="s",
            revision_id="r-1",
            job_id=keys.prefix.rsplit("/", 1)[-1],
            dist_folder="dist",
            output_key=output_key,
        )
        return await publish_artifacts(
            PublishInput(
                target=target,
                files=[ArtifactFile(name=name, bytes=0, sha256="") for name in files],
                published_at="2026-01-01T00:00:00Z",
                concurrency=2,
            ),
            DatabaseEnv(store=store, keys=keys, scratch=scratch, pool=pool),
        )
    finally:
        await pool.close()


async def test_publish_skips_files_already_uploaded(
    store: S3Store,
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
    pg_url: str,
) -> None:
    first_job, second_job = WorkKeys("job-1"), WorkKeys("job-2")
    files = await stage_artifacts(store, first_job, tmp_path)
    # A previous attempt died after uploading one file.
    await store.put_file(
        "dist/r-1/posts.json",
        await _download(store, first_job.artifact("posts.json"), tmp_path / "p.json"),
        "application/json",
        cache_control=REVISION_CACHE_CONTROL,
    )
    summary = await publish(store, first_job, files, tmp_path / "a", pg_url)
    assert (summary.uploaded, summary.skipped) == (3 + 1, 1)  # + latest.json
    admin = s3_admin(moto_endpoint)
    for name in files:
        head = admin.head_object(Bucket=s3_bucket, Key=f"root/dist/r-1/{name}")
        assert head["ContentType"] == "application/json"
        assert head["CacheControl"] == REVISION_CACHE_CONTROL
    latest = admin.head_object(Bucket=s3_bucket, Key="root/dist/latest.json")
    assert latest["CacheControl"] == LATEST_CACHE_CONTROL

    # The same revision built again by another job: identical files, a manifest that differs
    # only in created_at. Nothing of the revision is uploaded again.
    await stage_artifacts(store, second_job, tmp_path)
    manifest = json.loads(await store.get_bytes(second_job.artifact("manifest.json")))
    manifest["created_at"] = "2026-02-02T00:00:00Z"
    await store.put_bytes(second_job.artifact("manifest.json"), json.dumps(manifest).encode())
    etags = {
        name: admin.head_object(Bucket=s3_bucket, Key=f"root/dist/r-1/{name}")["LastModified"]
        for name in files
    }
    summary = await publish(store, second_job, files, tmp_path / "b", pg_url)
    assert (summary.uploaded, summary.skipped) == (0 + 1, 4)
    published = json.loads(await store.get_bytes("dist/r-1/manifest.json"))
    assert published["created_at"] == "2026-01-01T00:00:00Z"  # the first publication stands
    for name in files:
        head = admin.head_object(Bucket=s3_bucket, Key=f"root/dist/r-1/{name}")
        assert head["LastModified"] == etags[name]

    # A published revision is immutable: other bytes under the same revision id are never
    # uploaded. The same output key reuses what is published; another one is refused.
    await store.put_bytes(second_job.artifact("posts.json"), b'{"changed":true}')
    summary = await publish(store, second_job, files, tmp_path / "c", pg_url)
    assert (summary.uploaded, summary.skipped, summary.reused) == (0 + 1, 4, True)
    with pytest.raises(PublishRefused, match="immutable"):
        await publish(store, second_job, files, tmp_path / "d", pg_url, output_key="other")
    for name in files:
        head = admin.head_object(Bucket=s3_bucket, Key=f"root/dist/r-1/{name}")
        assert head["LastModified"] == etags[name]


async def test_publish_to_local_store_skips_identical_files(tmp_path: Path, pg_url: str) -> None:
    store = LocalStore(tmp_path / "store")
    keys = WorkKeys("job-1")
    files = await stage_artifacts(store, keys, tmp_path)
    first = await publish(store, keys, files, tmp_path / "a", pg_url)
    assert (first.uploaded, first.skipped) == (4 + 1, 0)
    mtimes = {n: (tmp_path / "store/dist/r-1" / n).stat().st_mtime_ns for n in files}
    again = await publish(store, keys, files, tmp_path / "b", pg_url)
    assert (again.uploaded, again.skipped) == (0 + 1, 4)
    assert mtimes == {n: (tmp_path / "store/dist/r-1" / n).stat().st_mtime_ns for n in files}


async def _download(store: Store, key: str, dest: Path) -> Path:
    await store.get_file(key, dest)
    return dest



async def test_a_job_reusing_an_unchanged_revision_publishes_nothing_of_its_own(
    tmp_path: Path, pg_url: str
) -> None:
    """Such a job sends no files: the published folder is listed as it is; if the folder was
    removed since the job began, the job fails with the reason instead of leaving an empty
    revision behind."""
    store = LocalStore(tmp_path / "store")
    keys = WorkKeys("job-1")
    files = await stage_artifacts(store, keys, tmp_path)
    with pytest.raises(PublishRefused, match="no longer published"):
        await publish(store, keys, [], tmp_path / "a", pg_url)
    assert not (tmp_path / "store/dist/r-1").exists()

    await publish(store, keys, files, tmp_path / "b", pg_url)
    reused = await publish(store, WorkKeys("job-2"), [], tmp_path / "c", pg_url)
    assert reused.reused and reused.uploaded == 1  # latest.json only
    assert sorted(f.name for f in reused.published) == sorted(files)
