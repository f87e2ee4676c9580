"""End to end on S3: a real worker whose artifact store and work store are a bucket on moto's
S3 server. Every published artifact is read back over the S3 protocol and checked against the
manifest; a second job for the same revision uploads none of the revision's files again
(proved with bucket versioning: each key keeps exactly one version)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.steps.publish import LATEST_CACHE_CONTROL, REVISION_CACHE_CONTROL
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.moto import (
    moto_endpoint,  # noqa: F401 - fixture
    s3_admin,
    s3_bucket,  # noqa: F401 - fixture
    s3_settings,
)
from tests.jobs import job_request, run_job

PREFIX = "pressroom"


@pytest.fixture
def settings(
    settings: Settings,
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> Settings:
    s3_admin(moto_endpoint).put_bucket_versioning(
        Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return s3_settings(settings, moto_endpoint, artifacts_url=f"s3://{s3_bucket}/{PREFIX}")


def versions(admin: Any, bucket: str, prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for page in admin.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


async def test_publish_to_s3_and_read_back(
    settings: Settings,
    worker: None,
    temporal_client: Client,
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> None:
    admin = s3_admin(moto_endpoint)
    request = job_request(EXAMPLE_BLOG, site="blog")
    first = await run_job(temporal_client, settings, request)
    revision = first["revision"]
    base = f"{PREFIX}/dist/{revision}"
    assert first["artifacts"]["base"] == f"s3://{s3_bucket}/{base}"

    def get(key: str) -> tuple[bytes, dict[str, Any]]:
        obj = admin.get_object(Bucket=s3_bucket, Key=key)
        return obj["Body"].read(), obj

    manifest_raw, manifest_obj = get(f"{base}/manifest.json")
    manifest = json.loads(manifest_raw)
    assert manifest["revision"] == revision
    assert set(manifest["files"]) == {"posts.json", "media.json", "search.json", "errors.json"}
    for name, meta in manifest["files"].items():
        body, obj = get(f"{base}/{name}")
        digest = hashlib.sha256(body).hexdigest()
        assert digest == meta["sha256"] == first["artifacts"]["files"][name]["sha256"], name
        assert len(body) == meta["bytes"]
        assert obj["ContentType"] == "application/json"
        assert obj["CacheControl"] == REVISION_CACHE_CONTROL
        assert obj["Metadata"]["sha256"] == digest
    assert manifest_obj["CacheControl"] == REVISION_CACHE_CONTROL
    posts = json.loads(get(f"{base}/posts.json")[0])["posts"]
    assert len(posts) == first["counts"]["posts"] >= 12
    latest_raw, latest_obj = get(f"{PREFIX}/dist/latest.json")
    assert json.loads(latest_raw)["revision"] == revision
    assert latest_obj["CacheControl"] == LATEST_CACHE_CONTROL
    # The work store lives in the same bucket, kept after the job (WORK_RETENTION), marked.
    work = f"{PREFIX}/_work/{request['jobId']}"
    marker = json.loads(get(f"{work}/finished.json")[0])
    assert (marker["status"], marker["retention"]) == ("completed", "7d")
    assert get(f"{work}/parsed/posts.jsonl")[0]  # what a reset to build-artifacts reads

    published = versions(admin, s3_bucket, f"{base}/")
    assert set(published) == {f"{base}/{n}" for n in (*manifest["files"], "manifest.json")}
    assert set(published.values()) == {1}

    # The same revision again (a new job): nothing of the revision is uploaded again.
    second = await run_job(temporal_client, settings, job_request(EXAMPLE_BLOG, site="blog"))
    assert second["revision"] == revision
    assert versions(admin, s3_bucket, f"{base}/") == published
    assert json.loads(get(f"{base}/manifest.json")[0]) == manifest
