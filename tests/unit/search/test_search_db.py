"""search.db: the writer's tables and the reader's answers, beside search.json's on the same
inputs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pressroom.models import MediaItem, MediaRef, Post, Section
from pressroom.publish.artifacts import SearchEntry, write_search_json
from pressroom.search.file import SearchFile
from pressroom.search.params import SearchError
from pressroom.search.search_db import SearchDB, fts_query
from pressroom.search.search_db_writer import PAGE_SIZE, write_search_db
from pressroom.search.sqlite_driver import connect

DIMS = 16
WORDS = (
    "deploy site static host bucket configure yaml front matter defaults folder theme layout "
    "liquid template variable plugin generator hook sass stylesheet permalink pagination "
    "collection data file ruby gem bundler windows linux install server watch build"
).split()


def _posts(n: int, seed: int = 7) -> list[Post]:
    rnd = random.Random(seed)
    posts = []
    for i in range(n):
        pid = f"p{i:03d}"
        sections = [
            Section(
                id=f"{pid}#{a}", post_id=pid, anchor=a, heading=h, level=2 if a else 0,
                position=k, text=" ".join(rnd.choices(WORDS, k=rnd.randint(5, 60))),
            )
            for k, (a, h) in enumerate([("", ""), ("usage", " ".join(rnd.choices(WORDS, k=2)))])
        ]  # fmt: skip
        posts.append(
            Post(
                id=pid, slug=pid, path=f"{pid}.md", title=" ".join(rnd.choices(WORDS, k=3)),
                url=f"https://example.org/{pid}/", date=f"2024-{1 + i % 12:02d}-10",
                tags=[rnd.choice(["ops", "setup", "ruby"])], authors=["Ann"],
                summary=f"summary {i}", text=" ".join(s.text for s in sections),
                sections=sections, front_matter={"n": i},
            )
        )  # fmt: skip
    return posts


def _media() -> list[MediaItem]:
    return [
        MediaItem(path="img/map.png", mime="image/png", bytes=10, sha256="0" * 64,
                  referenced_by=[MediaRef(post_id="p001", alt="Relief map of the ridge")],
                  url="https://example.org/img/map.png"),
        MediaItem(path="img/gem.png", mime="image/png", bytes=10, sha256="1" * 64,
                  referenced_by=[MediaRef(post_id="p002", alt="A ruby gem")]),
    ]  # fmt: skip


def _vector(seed: str) -> np.ndarray:
    v = np.random.default_rng(zlib.crc32(seed.encode())).standard_normal(DIMS)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _entries(posts: list[Post], media: list[MediaItem]) -> Iterator[SearchEntry]:
    for post in posts:
        for n, s in enumerate(post.sections):
            yield SearchEntry(
                kind="section", id=s.id, post_id=post.id, title=post.title, vector=_vector(s.id),
                anchor=s.anchor, heading=s.heading, text=s.text, url=post.url or "",
                tags=post.tags, date=post.date, post_fields=n == 0, updated=post.updated,
                authors=post.authors, summary=post.summary,
            )  # fmt: skip
    for m in media:
        alt = m.referenced_by[0].alt
        yield SearchEntry(kind="image", id=m.path, post_id=m.referenced_by[0].post_id,
                          title=alt, vector=_vector(m.path), url=m.url or "", text=alt)  # fmt: skip


EMBEDDING = {"provider": "local", "model": "hashing", "dimensions": DIMS, "version": "1"}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[SearchFile, SearchDB]:
    tmp = tmp_path_factory.mktemp("searchdb")
    posts, media = _posts(120), _media()
    related = {"p000": [{"postId": "p001", "similarity": 0.9}, {"postId": "p002"}]}
    write_search_json(tmp / "search.json", _entries(posts, media), revision_id="r1", site="s",
                      **EMBEDDING)  # fmt: skip
    counts = write_search_db(
        tmp / "search.db", posts=iter(posts), media=iter(media), entries=_entries(posts, media),
        related=related, revision_id="r1", site="s", embedding=EMBEDDING,
    )  # fmt: skip
    assert counts == {"posts": 120, "sections": 240, "media": 2, "entries": 242,
                      "vectors": 242, "related": 2}  # fmt: skip
    return SearchFile.load(tmp / "search.json"), SearchDB.open(tmp / "search.db")


def _ids(body: dict) -> list[str]:
    return [r["postId"] for r in body["results"]]


def test_tables_carry_the_json_files_fields(both: tuple[SearchFile, SearchDB]) -> None:
    _, db = both
    conn = db.conn
    assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    assert db.meta["format"] == "pressroom.searchdb/1" and db.revision == "r1"
    assert db.embedding and db.embedding["dimensions"] == DIMS
    assert db.meta["weights"] == {"title": 1.0, "heading": 0.4, "body": 0.2}
    row = conn.execute("SELECT id, url, tags, front_matter, sections FROM posts WHERE id='p003'")
    pid, url, tags, front, sections = row.fetchone()
    assert (pid, url, json.loads(front)) == ("p003", "https://example.org/p003/", {"n": 3})
    assert json.loads(tags) and [s["id"] for s in json.loads(sections)] == ["p003#", "p003#usage"]
    assert conn.execute("SELECT count(*) FROM sections").fetchone()[0] == 240
    assert conn.execute("SELECT level FROM sections WHERE id='p003#usage'").fetchone()[0] == 2
    assert conn.execute("SELECT referenced_by FROM media WHERE path='img/map.png'").fetchone()
    assert conn.execute("SELECT related_post_id FROM related ORDER BY rank").fetchall() == [
        ("p001",), ("p002",),
    ]  # fmt: skip
    assert conn.execute("SELECT count(*) FROM vec_sections").fetchone()[0] == 240
    assert conn.execute("SELECT count(*) FROM vec_images").fetchone()[0] == 2


def test_vector_mode_is_search_json_exactly(both: tuple[SearchFile, SearchDB]) -> None:
    file, db = both
    for seed in ("a", "b", "c", "d"):
        q = _vector(seed)
        for kind in ("posts", "images", "all"):
            want = file.search("x", mode="vector", kind=kind, query_vector=q, limit=10)
            got = db.search("x", mode="vector", kind=kind, query_vector=q, limit=10)
            assert got == want


def test_text_and_hybrid_answer_like_search_json(both: tuple[SearchFile, SearchDB]) -> None:
    file, db = both
    overlaps = []
    for query in ("deploy static site", "yaml front matter", "ruby gem bundler", "liquid"):
        for mode in ("text", "hybrid"):
            q = _vector(query)
            want = file.search(query, mode=mode, query_vector=q, kind="posts")
            got = db.search(query, mode=mode, query_vector=q, kind="posts")
            assert set(got) == set(want)
            assert got["results"][0].keys() == want["results"][0].keys()
            overlaps.append(len(set(_ids(got)) & set(_ids(want))) / len(_ids(want)))
    assert sum(overlaps) / len(overlaps) >= 0.8, overlaps


def test_phrases_exclusions_filters_and_images(both: tuple[SearchFile, SearchDB]) -> None:
    file, db = both
    for kwargs in (
        {"query": '"front matter"'},
        {"query": "deploy -ruby"},
        {"query": "deploy", "tags": ["OPS"]},
        {"query": "deploy", "date_from": datetime(2024, 6, 1, tzinfo=UTC)},
        {"query": "deploy", "date_to": datetime(2024, 3, 1, tzinfo=UTC)},
    ):
        assert set(_ids(db.search(**kwargs, limit=50))) == set(
            _ids(file.search(**kwargs, limit=50))
        )  # type: ignore[arg-type]
    hit = db.search('"front matter"', limit=50)["results"][0]
    assert "front" in hit["sections"][0]["snippet"] or "front" in hit["title"]
    assert _ids(db.search("deploy", tags=["nosuch"])) == []
    images = db.search("relief map", kind="images")["images"]
    assert images == file.search("relief map", kind="images")["images"]
    assert images[0]["path"] == "img/map.png" and images[0]["postId"] == "p001"
    assert images[0]["url"] == "https://example.org/img/map.png"


def test_bad_queries_and_files_are_refused(
    both: tuple[SearchFile, SearchDB], tmp_path: Path
) -> None:
    _, db = both
    with pytest.raises(SearchError):
        db.search("x", mode="vector")
    with pytest.raises(SearchError):
        db.search(" ")
    assert fts_query([["or"], ["front", "matter"]], [["and"]]) == (
        '("or" OR "front matter") NOT ("and")'
    )
    assert db.search("the and of", kind="posts")["results"] == []  # stop words only
    other = tmp_path / "other.db"
    conn = connect(other)
    conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    conn.execute("""INSERT INTO meta VALUES ('format', '"x/1"')""")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="format"):
        SearchDB.open(other)
    with pytest.raises(FileNotFoundError):
        SearchDB.open(tmp_path / "missing.db")


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    posts = _posts(3)

    def broken() -> Iterator[SearchEntry]:
        yield from list(_entries(posts, []))[:2]
        raise RuntimeError("the vectors ran out")

    with pytest.raises(RuntimeError, match="ran out"):
        write_search_db(tmp_path / "search.db", posts=posts, media=[], entries=broken(),
                        related=None, revision_id="r", site="s", embedding=EMBEDDING)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_without_vectors_full_text_still_answers(tmp_path: Path) -> None:
    posts = _posts(10)
    entries = (dataclasses.replace(e, vector=None) for e in _entries(posts, []))
    write_search_db(tmp_path / "search.db", posts=posts, media=[], entries=entries,
                    related=None, revision_id="r", site="s", embedding=None)  # fmt: skip
    with SearchDB.open(tmp_path / "search.db") as db:
        assert db.embedding is None
        assert db.search(posts[0].title.split()[0])["results"]
        tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master")}
        assert "vec_sections" not in tables


def test_the_cli_searches_a_file_with_the_embedder_it_names(tmp_path: Path) -> None:
    from pressroom.starter.cli import app
    from typer.testing import CliRunner

    from pressroom.embeddings import HashingEmbedder

    posts, embedder = _posts(30), HashingEmbedder(DIMS)
    entries = list(_entries(posts, _media()))
    vectors = asyncio.run(embedder.embed([f"{e.title} {e.heading} {e.text}" for e in entries]))
    entries = [dataclasses.replace(e, vector=v) for e, v in zip(entries, vectors, strict=True)]
    info = {"provider": "hashing", "model": embedder.model, "dimensions": DIMS, "version": "1"}
    write_search_db(tmp_path / "search.db", posts=posts, media=_media(), entries=entries,
                    related=None, revision_id="r9", site="s", embedding=info)  # fmt: skip
    query = f"{posts[4].title}"
    with SearchDB.open(tmp_path / "search.db") as db:
        want = db.search(query, mode="hybrid", query_vector=asyncio.run(embedder.embed([query]))[0])
    runner = CliRunner()
    env = {"COLUMNS": "200", "EMBEDDING_PROVIDER": "openai", "OPENAI_API_KEY": ""}
    result = runner.invoke(app, ["search", query, "--db", str(tmp_path / "search.db"),
                                 "--limit", "3"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "s @ r9 · hybrid · search.db" in result.output  # the file's embedder, not the env's
    assert f"1. {want['results'][0]['title']}" in result.output and "\n4. " not in result.output
    result = runner.invoke(app, ["search", "x", "--db", str(tmp_path / "none.db")], env=env)
    assert result.exit_code == 2 and "cannot read" in result.output
