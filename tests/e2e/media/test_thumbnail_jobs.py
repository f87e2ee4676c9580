"""Thumbnails across jobs, on the real worker, Temporal dev server and Postgres: an image is
decoded once per content, whichever revision or site shows it again, and the job result says
how many previews were made and how many reused."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest_asyncio
from PIL import Image
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.db.thumbnails import get_thumbnail
from tests.jobs import job_request, run_job

IMAGES = ("img/noise-1.png", "img/noise-2.jpg", "post/noise-3.gif")


@pytest_asyncio.fixture
async def db(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(pg_url)
    yield conn
    await conn.close()


def noise(fmt: str, size: tuple[int, int] = (400, 300)) -> bytes:
    """An image no other test (nor an earlier run on this database) has: random pixels."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, fmt)
    return out.getvalue()


def write_blog(root: Path) -> None:
    (root / "img").mkdir(parents=True)
    (root / "post").mkdir()
    (root / IMAGES[0]).write_bytes(noise("PNG"))
    (root / IMAGES[1]).write_bytes(noise("JPEG"))
    (root / IMAGES[2]).write_bytes(noise("GIF", (120, 90)))
    (root / "img/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    (root / "img/logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8"/>')
    (root / "img/copy-of-1.png").write_bytes((root / IMAGES[0]).read_bytes())
    (root / "first.md").write_text(
        "---\ntitle: First\n---\n# Pictures\n\n![one](img/noise-1.png) ![two](img/noise-2.jpg)"
        " ![logo](img/logo.svg) ![broken](img/broken.png) ![copy](img/copy-of-1.png)\n"
    )
    (root / "post/index.md").write_text("---\ntitle: Second\n---\nText.\n\n![three](noise-3.gif)\n")


async def test_a_second_site_and_a_new_revision_decode_only_new_images(
    settings: Settings,
    temporal_client: Client,
    worker: None,
    tmp_path: Path,
    db: asyncpg.Connection,
) -> None:
    blog = tmp_path / "blog"
    write_blog(blog)
    one, two = f"thumbs-{uuid.uuid4().hex[:6]}", f"thumbs-{uuid.uuid4().hex[:6]}"

    first = await run_job(temporal_client, settings, job_request(blog, site=one, dist="one"))
    assert first["status"] == "completed", first
    # Three previews and one unreadable PNG, each decoded once (the copy shares noise-1's
    # content); the SVG is never decoded.
    assert first["database"]["thumbnails"] == {"made": 3, "unreadable": 1, "reused": 0}

    second = await run_job(temporal_client, settings, job_request(blog, site=two, dist="two"))
    assert second["status"] == "completed", second
    assert second["database"]["thumbnails"] == {"made": 0, "unreadable": 0, "reused": 4}

    # Both sites serve the same stored preview for every raster image they show.
    for path in (*IMAGES, "img/copy-of-1.png"):
        a, b = await get_thumbnail(db, one, path), await get_thumbnail(db, two, path)
        assert a is not None and b is not None, path
        assert a[0] == "image/webp" and a[1] == b[1] and a[1][8:12] == b"WEBP"
    for path in ("img/broken.png", "img/logo.svg"):
        assert await get_thumbnail(db, one, path) is None
        assert await get_thumbnail(db, two, path) is None

    # A new revision of the first site with one image replaced decodes that image alone.
    (blog / IMAGES[1]).write_bytes(noise("JPEG"))
    third = await run_job(temporal_client, settings, job_request(blog, site=one, dist="one"))
    assert third["status"] == "completed", third
    assert third["revision"] != first["revision"]
    assert third["database"]["thumbnails"] == {"made": 1, "unreadable": 0, "reused": 3}
    now = await get_thumbnail(db, one, IMAGES[1])
    before = await get_thumbnail(db, two, IMAGES[1])
    assert now is not None and before is not None and now[1] != before[1]
    assert now[2] == third["revision"]
