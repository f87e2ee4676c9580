"""Bounded hits: one hostile post (a 1 MB title, description, summary, tag list, author list,
url, alias list and permalink, a 1 MB "word" in its body, 500 sections with long headings) and
an image with 1 MB of alt text and description never make a hit large: every hit of `/search`
(each mode), every related post of `/posts/.../related` and `/posts/...` stays under 8 KiB.

The rows are written with the loader directly, as a revision parsed before the parse step's
field caps (or written by anything else) could hold them. Only the posts row carries the whole
title: each section's denormalised copy of it (`post_title`, weighed in full text, never
returned) is cut to 300 characters, so the test does not copy a megabyte 500 times.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.db.rows import MediaRow
from pressroom.embeddings import HashingEmbedder
from pressroom.search.hits import HIT_CAPS
from tests.fakes import search_sites
from tests.fakes.revision_rows import DIMS, load, post
from tests.fakes.search_sites import SearchDB

search_db = search_sites.search_db
search_settings = search_sites.search_settings

MB = 1_000_000
HIT_BYTES = 8 * 1024
HUGE = "posts/huge"
NORMAL = [f"posts/normal-{i}" for i in range(5)]


def _huge_post() -> Any:
    sections = [
        ("", "The kestrel calibration log " + "w" * MB + " kestrel drift after the storm."),
        *((("Kestrel heading " * 200)[: 3000 + i], f"Kestrel notes, part {i}.")
          for i in range(499)),
    ]  # fmt: skip
    return post(
        HUGE,
        ("Kestrel " * (MB // 8 + 1))[:MB],
        sections,
        tags=[f"tag{i}-" + "t" * 5000 for i in range(200)],
        description="Kestrel " * (MB // 8),
        front_matter={"permalink": "/" + "p" * MB},
        url="/" + "u" * MB,
        aliases=["/" + "a" * MB, *(f"/alias-{i}/" for i in range(1000))],
        authors=[f"Author {i} " + "x" * 5000 for i in range(200)],
        summary="Kestrel " * (MB // 8),
    )


def _image(posts: list[str]) -> MediaRow:
    vector = HashingEmbedder(DIMS).embed_sync(["kestrel on the mast"])[0]
    return MediaRow(
        path="img/kestrel.png",
        mime="image/png",
        bytes=1234,
        sha256=hashlib.sha256(b"kestrel").hexdigest(),
        width=10,
        height=10,
        alt_texts=[f"kestrel alt {i} " + "a" * 50_000 for i in range(20)],
        post_ids=posts,
        description="kestrel " * (MB // 8),
        embedding=np.asarray(vector, dtype=np.float32),
    )


@pytest_asyncio.fixture(scope="module")
async def huge_site(search_db: SearchDB) -> str:
    name = f"huge-{uuid.uuid4().hex[:8]}"
    posts = [_huge_post()] + [
        post(p, f"Kestrel field note {i}", [("", f"A kestrel hovered over field {i}.")])
        for i, p in enumerate(NORMAL)
    ]
    conn = await connect(search_db.url)
    try:
        await load(conn, name, "r1", posts, media=[_image([HUGE, *NORMAL])], title_cap=300)
    finally:
        await conn.close()
    return name


@pytest_asyncio.fixture
async def api(search_settings: Settings, temporal_client: Client) -> AsyncIterator[str]:
    async with search_sites.serving(search_settings, temporal_client) as url:
        yield url


async def _get(url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def _size(hit: dict[str, Any]) -> int:
    return len(json.dumps(hit, ensure_ascii=False).encode())


def _assert_small(hits: list[dict[str, Any]], where: str) -> None:
    for hit in hits:
        fields = {k: _size({k: v}) for k, v in hit.items()}
        assert _size(hit) < HIT_BYTES, f"{where}: a hit of {_size(hit)} bytes: {fields}"


@pytest.mark.parametrize("mode", ["text", "vector", "hybrid"])
async def test_every_search_hit_stays_small(api: str, huge_site: str, mode: str) -> None:
    body = await _get(
        f"{api}/search",
        {"q": "kestrel calibration", "site": huge_site, "mode": mode, "limit": "50"},
    )
    results, images = body["results"], body["images"]
    assert HUGE in {r["postId"] for r in results}  # the hostile post is among the hits
    assert images and images[0]["path"] == "img/kestrel.png"
    _assert_small(results, f"{mode} results")
    _assert_small(images, f"{mode} images")
    huge = next(r for r in results if r["postId"] == HUGE)
    assert len(huge["title"]) <= HIT_CAPS["title"] and len(huge["tags"]) <= HIT_CAPS["tags"]
    assert huge["url"] is None and len(huge["summary"]) <= HIT_CAPS["summary"]
    assert len(huge["authors"]) <= HIT_CAPS["authors"]
    assert len(huge["sections"]) <= 3
    assert len(images[0]["alt"]) <= HIT_CAPS["alts"]
    assert len(json.dumps(body).encode()) < 51 * HIT_BYTES  # limit 50: posts + images + head


async def test_related_posts_stay_small(api: str, huge_site: str) -> None:
    for post_id in NORMAL:
        body = await _get(f"{api}/posts/{huge_site}/{post_id}/related")
        assert HUGE in {r["postId"] for r in body["related"]}
        _assert_small(body["related"], f"related of {post_id}")
        whole = await _get(f"{api}/posts/{huge_site}/{post_id}")
        _assert_small(whole["related"], f"/posts {post_id} related")
        assert _size(whole) < 6 * HIT_BYTES


async def test_the_reader_keeps_the_text_and_bounds_the_rest(api: str, huge_site: str) -> None:
    """`/posts/{site}/{id}` is the reader: the sections' text is the post itself and stays
    whole; its title, description, tags, headings and related posts are bounded."""
    body = await _get(f"{api}/posts/{huge_site}/{HUGE}")
    assert len(body["sections"]) == 500
    assert len(body["sections"][0]["text"]) > MB  # the content is served whole
    assert len(body["title"]) <= HIT_CAPS["title"]
    assert len(body["description"]) <= HIT_CAPS["description"]
    assert len(body["tags"]) <= HIT_CAPS["tags"]
    assert all(len(t) <= HIT_CAPS["tag"] for t in body["tags"])
    assert body["url"] is None and len(body["summary"]) <= HIT_CAPS["summary"]
    assert body["aliases"] == [f"/alias-{i}/" for i in range(HIT_CAPS["aliases"])]
    assert len(body["authors"]) == HIT_CAPS["authors"]
    assert all(len(a) <= HIT_CAPS["author"] for a in body["authors"])
    assert all(len(s["heading"]) <= HIT_CAPS["heading"] for s in body["sections"])
    _assert_small(body["related"], "the reader's related posts")
