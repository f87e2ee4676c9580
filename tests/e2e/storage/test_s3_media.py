"""Media publishing end to end on S3: a real worker whose store is a bucket on moto's S3 server,
over a small copy of real content (two Hugo docs page bundles with their screenshots, and a Go
blog post with its images beside it).

With publishing off no `media/` key is written. With it on, every image of the revision is in
the bucket once under `media/{sha256}.{ext}` with its preview, and each media.json entry's
URL (through the `ARTIFACTS_PUBLIC_URL` mapping onto the bucket) fetches exactly those bytes
with an immutable cache header. A second site with the same images uploads none: the result's
counts say so, and bucket versioning plus ETag/LastModified prove no object was rewritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.publish.media import MEDIA_CACHE_CONTROL
from tests.conftest import CORPORA
from tests.fakes.moto import (
    moto_endpoint,  # noqa: F401 - fixture
    s3_admin,
    s3_bucket,  # noqa: F401 - fixture
    s3_settings,
)
from tests.jobs import job_request, run_job

PREFIX = "pressroom"
PUBLIC = "https://cdn.example.test/assets"
HUGO_BUNDLES = ("host-on-codeberg-pages", "host-on-render")


@pytest.fixture
def settings(
    settings: Settings,
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> Settings:
    s3_admin(moto_endpoint).put_bucket_versioning(
        Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return s3_settings(
        settings,
        moto_endpoint,
        artifacts_url=f"s3://{s3_bucket}/{PREFIX}",
        # The CDN in front of the bucket's prefix: URLs in media.json use it.
        artifacts_public_url=PUBLIC,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A few real posts and their images, copied out of the shared corpora."""
    root = tmp_path / "site"
    hugo = CORPORA / "hugo-docs" / "content" / "en" / "host-and-deploy"
    for bundle in HUGO_BUNDLES:
        shutil.copytree(hugo / bundle, root / "host-and-deploy" / bundle)
    go_blog = CORPORA / "go-blog" / "blog"
    shutil.copy(go_blog / "4years.md", root / "4years.md")
    shutil.copytree(go_blog / "4years", root / "4years")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the corpora are read-only
    return root


def media_request(repo: Path, *, site: str, publish: bool, task: str) -> dict[str, Any]:
    body = job_request(repo, site=site, dist=site, task=task)
    body["data"]["publishMedia"] = publish
    return body


def key_of(url: str) -> str:
    """The bucket key behind a public URL (the CDN maps PUBLIC onto the store's prefix)."""
    assert url.startswith(PUBLIC + "/"), url
    return f"{PREFIX}/{url.removeprefix(PUBLIC + '/')}"


def objects(admin: Any, bucket: str, prefix: str) -> dict[str, tuple[int, str, Any]]:
    """key -> (versions, ETag, LastModified of the latest version)."""
    out: dict[str, tuple[int, str, Any]] = {}
    pages = admin.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for v in page.get("Versions", []):
            count, etag, modified = out.get(v["Key"], (0, "", None))
            if v["IsLatest"]:
                etag, modified = v["ETag"], v["LastModified"]
            out[v["Key"]] = (count + 1, etag, modified)
    return out


async def test_media_published_once_across_sites(
    settings: Settings,
    worker: None,
    temporal_client: Client,
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    site: Path,
) -> None:
    admin = s3_admin(moto_endpoint)

    def get(key: str) -> tuple[bytes, dict[str, Any]]:
        obj = admin.get_object(Bucket=s3_bucket, Key=key)
        return obj["Body"].read(), obj

    def published(result: dict[str, Any], name: str) -> dict[str, Any]:
        base = result["artifacts"]["base"]
        return json.loads(get(key_of(f"{base}/{name}"))[0])

    # Publishing off: the JSON only, no media key, no media URL.
    off = await run_job(
        temporal_client,
        settings,
        media_request(site, site="docs", publish=False, task="parse-only"),
    )
    assert off["status"] == "completed"
    assert objects(admin, s3_bucket, f"{PREFIX}/media/") == {}
    assert "mediaUploaded" not in off["counts"]
    for entry in published(off, "media.json")["media"]:
        assert entry["published_url"] is None and entry["thumbnail_url"] is None

    # Publishing on (parse-only: the build step makes the previews itself).
    first = await run_job(
        temporal_client, settings, media_request(site, site="docs", publish=True, task="parse-only")
    )
    assert first["status"] == "completed"
    assert first["revision"] != off["revision"]  # other output: media.json has the URLs
    media = published(first, "media.json")["media"]
    on_disk = {p.relative_to(site).as_posix() for p in site.rglob("*.png")}
    assert {m["path"] for m in media} == on_disk and len(on_disk) == 4 + 10 + 2

    # Every image a post shows is in the bucket under its content key.
    by_path = {m["path"]: m for m in media}
    shown = {
        image["path"]
        for post in published(first, "posts.json")["posts"]
        for image in post["images"]
        if image["path"]
    }
    assert len(shown) >= 14, shown  # the Hugo screenshots at least
    for path in shown:
        entry = by_path[path]
        assert entry["published_url"] == f"{PUBLIC}/media/{entry['sha256']}.png"

    # Each URL fetches exactly the image's bytes, typed and cached for good; each preview a
    # small WebP of it.
    expected: set[str] = set()
    for entry in media:
        body, obj = get(key_of(entry["published_url"]))
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert len(body) == entry["bytes"]
        assert (obj["ContentType"], obj["CacheControl"]) == (entry["mime"], MEDIA_CACHE_CONTROL)
        assert (site / entry["path"]).read_bytes() == body
        assert entry["thumbnail_url"] is not None, entry["path"]
        thumb, thumb_obj = get(key_of(entry["thumbnail_url"]))
        assert thumb_obj["ContentType"] == "image/webp"
        assert thumb_obj["CacheControl"] == MEDIA_CACHE_CONTROL
        with Image.open(io.BytesIO(thumb)) as preview:
            assert preview.format == "WEBP" and max(preview.size) <= 320
        expected |= {key_of(entry["published_url"]), key_of(entry["thumbnail_url"])}

    # Once: exactly these keys, one version each; the counts add up.
    uploaded = objects(admin, s3_bucket, f"{PREFIX}/media/")
    assert set(uploaded) == expected
    assert {versions for versions, _, _ in uploaded.values()} == {1}
    distinct = len({m["sha256"] for m in media})
    counts = first["counts"]
    assert counts["mediaUploaded"] + counts["mediaPresent"] == distinct
    assert counts["thumbnailsUploaded"] + counts["thumbnailsPresent"] == distinct
    assert (counts["mediaUploaded"], counts["thumbnailsUploaded"]) == (distinct, distinct)
    manifest = published(first, "manifest.json")
    assert manifest["media"]["images"] == manifest["media"]["thumbnails"] == distinct
    assert manifest["media"]["prefix"] == "media/"

    # A second site with the same images (a full job this time) uploads none of them.
    second = await run_job(
        temporal_client,
        settings,
        media_request(site, site="mirror", publish=True, task="process-all"),
    )
    assert second["status"] == "completed"
    counts = second["counts"]
    assert (counts["mediaUploaded"], counts["thumbnailsUploaded"]) == (0, 0)
    assert (counts["mediaPresent"], counts["thumbnailsPresent"]) == (distinct, distinct)
    assert objects(admin, s3_bucket, f"{PREFIX}/media/") == uploaded  # versions, ETag, time
    mirrored = published(second, "media.json")["media"]
    assert {(m["path"], m["published_url"], m["thumbnail_url"]) for m in mirrored} == {
        (m["path"], m["published_url"], m["thumbnail_url"]) for m in media
    }

    # An upload cut short (here: two objects gone) is completed by the next publish, which
    # sends exactly what is missing and leaves every other object as it was.
    lost_image, lost_thumb = key_of(media[0]["published_url"]), key_of(media[1]["thumbnail_url"])
    admin.delete_objects(
        Bucket=s3_bucket,
        Delete={"Objects": [{"Key": lost_image}, {"Key": lost_thumb}]},
    )
    third = await run_job(
        temporal_client,
        settings,
        media_request(site, site="third", publish=True, task="parse-only"),
    )
    counts = third["counts"]
    assert (counts["mediaUploaded"], counts["thumbnailsUploaded"]) == (1, 1)
    assert (counts["mediaPresent"], counts["thumbnailsPresent"]) == (distinct - 1, distinct - 1)
    after = objects(admin, s3_bucket, f"{PREFIX}/media/")
    assert set(after) == set(uploaded)
    for key in (lost_image, lost_thumb):
        assert after.pop(key)[0] == 2  # the lost version and the one uploaded again
        uploaded.pop(key)
    assert after == uploaded
    assert get(lost_image)[0] == (site / media[0]["path"]).read_bytes()
