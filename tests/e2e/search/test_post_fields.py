"""A post's public URL, dates, authors and summary, end to end: set on the posts (as the parse
step's site conventions set them), they reach the database, `/search` hits in every mode,
`GET /posts/{site}/{id}` and its related posts, and from the same posts `search.json` (and its
file back end, which answers with the same post fields) and `posts.json`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio

from pressroom.db.pool import connect
from pressroom.db.related import all_related_posts
from pressroom.db.rows import parse_timestamp
from pressroom.embeddings import HashingEmbedder
from pressroom.models import Post
from pressroom.publish.artifacts import write_posts_json, write_search_json
from pressroom.search.file import SearchFile
from pressroom.search.params import SearchParams
from pressroom.search.searcher import Searcher
from pressroom.steps.artifacts import search_entries
from pressroom.storage.workstore import write_jsonl
from tests.fakes import search_sites
from tests.fakes.revision_rows import DIMS, section_rows
from tests.fakes.search_sites import PRESS_SITE, PRESS_URLS, SearchDB, press_posts

search_db = search_sites.search_db
search_settings = search_sites.search_settings
search_api = search_sites.search_api

POST_FIELDS = ("url", "date", "updated", "authors", "summary")


def _iso(value: str | None) -> str | None:
    parsed = parse_timestamp(value)
    return parsed.isoformat() if parsed else None


def expected(post: Post) -> dict[str, Any]:
    """What every answer about `post` carries of it."""
    return {
        "url": post.url,
        "date": _iso(post.date),
        "updated": _iso(post.updated),
        "authors": post.authors,
        "summary": post.summary,
    }


POSTS = {p.id: p for p in press_posts()}


def fields(hit: dict[str, Any]) -> dict[str, Any]:
    return {k: hit[k] for k in POST_FIELDS}


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize("mode", ["text", "vector", "hybrid"])
async def test_search_hits_carry_the_post_fields(
    search_api: str, http: aiohttp.ClientSession, mode: str
) -> None:
    params = {"q": "barometer", "site": PRESS_SITE, "mode": mode, "kind": "posts"}
    async with http.get(f"{search_api}/search", params=params) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["modeUsed"] == mode
    by_id = {r["postId"]: r for r in body["results"]}
    assert set(by_id) == set(POSTS)
    for post_id, post in POSTS.items():
        assert fields(by_id[post_id]) == expected(post), post_id
    # The values as set (the hostile URL is data here; the page never makes it a link).
    field_notes = by_id["notes/field-notes"]
    assert field_notes["url"] == "https://weather.example.org/2024/05/02/field-notes/"
    assert field_notes["date"] == "2024-05-02T00:00:00+00:00"
    assert field_notes["updated"] == "2024-06-01T09:30:00+00:00"
    assert field_notes["authors"] == ["Ada Lovelace", "Grace Hopper"]
    assert by_id["notes/hostile"]["url"] == PRESS_URLS["notes/hostile"]
    assert fields(by_id["notes/no-url"]) == {
        "url": None, "date": None, "updated": None, "authors": [], "summary": "",
    }  # fmt: skip


async def test_the_post_and_its_related_posts_carry_them(
    search_api: str, http: aiohttp.ClientSession
) -> None:
    post_id = "notes/field-notes"
    async with http.get(f"{search_api}/posts/{PRESS_SITE}/{quote(post_id, safe='')}") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert fields(body) == expected(POSTS[post_id])
    assert body["aliases"] == ["/old/field-notes/"]
    assert [s["anchor"] for s in body["sections"]] == ["s0", "s1"]
    related = body["related"]
    assert len(related) == 3 and post_id not in {r["postId"] for r in related}
    for row in related:
        assert fields(row) == expected(POSTS[row["postId"]])
        assert row["postUrl"] == f"/posts/{PRESS_SITE}/{quote(row['postId'], safe='')}"

    async with http.get(f"{search_api}/posts/{PRESS_SITE}/{post_id}/related") as resp:
        assert resp.status == 200
        assert (await resp.json())["related"] == related


async def _db_hits(search_db: SearchDB, query: str, mode: str) -> dict[str, dict[str, Any]]:
    conn = await connect(search_db.url)
    try:
        params = SearchParams(query=query, site=PRESS_SITE, mode=mode, kind="posts")
        body = await Searcher(HashingEmbedder(DIMS)).search(conn, params)
    finally:
        await conn.close()
    return {r["postId"]: r for r in body["results"]}


def _search_json(tmp_path: Path, posts: list[Post]) -> Path:
    """search.json as the build step writes it from the parse step's posts (with the
    sections' hashing vectors, as the embed step would have made them)."""
    posts_path, media_path = tmp_path / "posts.jsonl", tmp_path / "media.jsonl"
    write_jsonl(posts_path, (p.model_dump(mode="json") for p in posts))
    write_jsonl(media_path, [])
    vectors = [(r.section_id, r.content_sha256, r.embedding) for r in section_rows(posts)]
    path = tmp_path / "search.json"
    write_search_json(
        path,
        search_entries(posts_path, media_path, vectors, None),  # type: ignore[arg-type]
        revision_id="r-press-1",
        site=PRESS_SITE,
        provider="hashing",
        model=HashingEmbedder.model,
        dimensions=DIMS,
        version="1",
    )
    return path


async def test_search_json_and_its_file_back_end_carry_them(
    search_db: SearchDB, tmp_path: Path
) -> None:
    path = _search_json(tmp_path, press_posts())
    entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
    first, second = (e for e in entries if e["post_id"] == "notes/field-notes")
    # Every section links to its post; the post's own fields ride on its first section only.
    assert first["url"] == second["url"] == PRESS_URLS["notes/field-notes"]
    assert first["date"] == second["date"] == "2024-05-02"
    assert first["authors"] == ["Ada Lovelace", "Grace Hopper"]
    assert first["summary"] == POSTS["notes/field-notes"].summary
    assert first["updated"] == "2024-06-01T09:30:00Z"
    assert not {"authors", "summary", "updated"} & second.keys()
    no_url = next(e for e in entries if e["post_id"] == "notes/no-url")
    assert no_url["url"] == "" and no_url["date"] is None

    index = SearchFile.load(path)
    vector = (await HashingEmbedder(DIMS).embed(["barometer"]))[0]
    for mode in ("text", "vector", "hybrid"):
        found = index.search("barometer", mode=mode, kind="posts", query_vector=vector)
        from_file = {r["postId"]: r for r in found["results"]}
        from_db = await _db_hits(search_db, "barometer", mode)
        assert set(from_file) == set(from_db) == set(POSTS), mode
        for post_id, post in POSTS.items():
            # The same hit fields as the database's, whichever back end answers.
            assert fields(from_file[post_id]) == fields(from_db[post_id]) == expected(post)


async def test_posts_json_carries_them_with_related_posts(
    search_db: SearchDB, tmp_path: Path
) -> None:
    conn = await connect(search_db.url)
    try:
        related = await all_related_posts(conn, PRESS_SITE, search_db.revisions[PRESS_SITE])
    finally:
        await conn.close()
    path = tmp_path / "posts.json"
    write_posts_json(path, press_posts(), revision_id="r-press-1", site=PRESS_SITE,
                     related=related)  # fmt: skip
    records = {p["id"]: p for p in json.loads(path.read_text(encoding="utf-8"))["posts"]}
    record = records["notes/field-notes"]
    assert record["url"] == PRESS_URLS["notes/field-notes"]
    assert record["aliases"] == ["/old/field-notes/"]
    assert record["date"] == "2024-05-02" and record["updated"] == "2024-06-01T09:30:00Z"
    assert record["authors"] == ["Ada Lovelace", "Grace Hopper"]
    assert record["summary"] == POSTS["notes/field-notes"].summary
    assert records["notes/no-url"]["url"] is None
    for post_id, rows in ((pid, r["related"]) for pid, r in records.items()):
        assert len(rows) == 3, post_id
        for row in rows:
            assert fields(row) == expected(POSTS[row["postId"]])
