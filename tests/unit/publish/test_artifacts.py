"""Static artifacts: streamed JSON documents, exact vectors, manifest hashes, atomic writes."""

from __future__ import annotations

import base64
import hashlib
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pressroom.embeddings import HashingEmbedder
from pressroom.models import ImageRef, Link, MediaItem, MediaRef, Post, Section
from pressroom.publish.artifacts import (
    MANIFEST_JSON,
    SearchEntry,
    build_manifest,
    decode_vector,
    encode_vector,
    trim_text,
    write_manifest,
    write_media_json,
    write_posts_json,
    write_search_json,
)
from pressroom.storage.base import sha256_file


def make_post(i: int, body_words: int = 40) -> Post:
    text = " ".join(f"word{j}" for j in range(body_words))
    pid = f"_posts/2024-01-01-post-{i}"
    return Post(
        id=pid,
        slug=f"post-{i}",
        path=f"{pid}.md",
        title=f"Post {i} — ünïcode",
        date="2024-01-01",
        tags=["a", "b"],
        html=f"<p>{text}</p>",
        text=text,
        sections=[
            Section(
                id=f"{pid}#", post_id=pid, anchor="", heading="", level=0, position=0, text=text
            ),
            Section(
                id=f"{pid}#setup",
                post_id=pid,
                anchor="setup",
                heading="Setup",
                level=2,
                position=1,
                text="setup text",
            ),
        ],
        links=[Link(url="https://example.com", text="ex")],
        images=[ImageRef(src="cat.png", path="img/cat.png", alt="a cat")],
        front_matter={"layout": "post", "n": i},
        content_sha256="0" * 64,
    )


def test_posts_json_round_trip(tmp_path: Path) -> None:
    posts = [make_post(i) for i in range(3)]
    path = tmp_path / "posts.json"
    assert write_posts_json(path, posts, revision_id="rev1", site="blog") == 3
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert (doc["site"], doc["revision"], doc["count"]) == ("blog", "rev1", 3)
    first = doc["posts"][0]
    assert first["title"] == "Post 0 — ünïcode"
    assert first["html"].startswith("<p>word0")
    assert first["text"] == posts[0].text
    assert first["sections"][1] == {
        "id": "_posts/2024-01-01-post-0#setup",
        "anchor": "setup",
        "heading": "Setup",
        "level": 2,
        "position": 1,
    }
    assert first["links"] == [{"url": "https://example.com", "text": "ex", "internal": False}]
    assert first["images"][0]["alt"] == "a cat"
    assert first["front_matter"] == {"layout": "post", "n": 0}
    assert "ünïcode" in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes


def test_empty_documents_are_valid_json(tmp_path: Path) -> None:
    assert write_posts_json(tmp_path / "p.json", [], revision_id="r", site="s") == 0
    assert json.loads((tmp_path / "p.json").read_text())["posts"] == []
    assert write_media_json(tmp_path / "m.json", iter([]), revision_id="r", site="s") == 0
    assert json.loads((tmp_path / "m.json").read_text())["media"] == []


def test_media_json_round_trip(tmp_path: Path) -> None:
    media = [
        MediaItem(
            path="img/cat.png",
            mime="image/png",
            bytes=123,
            sha256="f" * 64,
            width=10,
            height=20,
            referenced_by=[MediaRef(post_id="p1", alt="a cat")],
        ),
        MediaItem(path="img/x.gif", mime="image/gif", bytes=1, sha256="e" * 64),
    ]
    path = tmp_path / "media.json"
    assert write_media_json(path, media, revision_id="r", site="s") == 2
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert [MediaItem.model_validate(m) for m in doc["media"]] == media


def _entries(vectors: np.ndarray) -> list[SearchEntry]:
    return [
        SearchEntry(
            kind="section" if i % 2 == 0 else "image",
            id=f"id{i}",
            post_id=f"p{i}" if i % 2 == 0 else None,
            title=f"T{i}",
            vector=vectors[i],
            url=f"/p{i}/",
            anchor=f"a{i}",
            heading=f"H{i}",
            text="body " * (i * 300),
            tags=["x"],
            date="2024-02-03",
        )
        for i in range(len(vectors))
    ]


def test_search_json_vectors_decode_exactly(tmp_path: Path) -> None:
    vectors = HashingEmbedder(dimensions=64).embed_sync([f"text {i}" for i in range(5)])
    path = tmp_path / "search.json"
    n = write_search_json(
        path,
        _entries(vectors),
        provider="hashing",
        model="hashing-v1",
        dimensions=64,
        revision_id="r",
        site="s",
        version="1",
    )
    assert n == 5
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["embedding"] == {
        "provider": "hashing",
        "model": "hashing-v1",
        "dimensions": 64,
        "version": "1",
        "encoding": "base64-f32le",
        "normalized": True,
    }
    for i, entry in enumerate(doc["entries"]):
        np.testing.assert_array_equal(decode_vector(entry["vector"]), vectors[i])
        # Independent decoding, as a browser would: raw bytes as little-endian float32.
        raw = base64.b64decode(entry["vector"])
        assert len(raw) == 64 * 4
        np.testing.assert_array_equal(np.frombuffer(raw, "<f4"), vectors[i])
        assert len(entry["text"]) <= 2000
    assert doc["entries"][1]["kind"] == "image" and doc["entries"][1]["post_id"] is None
    assert doc["entries"][4]["text"].endswith("…")
    assert doc["entries"][0]["tags"] == ["x"] and doc["entries"][0]["date"] == "2024-02-03"


def test_encode_vector_is_little_endian_float32() -> None:
    v = np.array([1.0, -2.5, 0.1], dtype=">f8")  # big-endian float64 input
    raw = base64.b64decode(encode_vector(v))
    assert raw == np.array([1.0, -2.5, 0.1], dtype="<f4").tobytes()


def test_search_json_rejects_bad_vectors(tmp_path: Path) -> None:
    good = np.ones(4, dtype=np.float32) / 2
    bad_shape = SearchEntry(kind="section", id="x", post_id="p", title="t", vector=np.ones(5))
    with pytest.raises(ValueError, match="shape"):
        write_search_json(
            tmp_path / "s.json",
            [bad_shape],
            provider="h",
            model="m",
            dimensions=4,
            revision_id="r",
            site="s",
        )
    nan = SearchEntry(
        kind="section", id="x", post_id="p", title="t", vector=np.array([np.nan, 0, 0, 0])
    )
    with pytest.raises(ValueError, match="finite"):
        write_search_json(
            tmp_path / "s.json",
            [nan],
            provider="h",
            model="m",
            dimensions=4,
            revision_id="r",
            site="s",
        )
    # A failed build leaves neither a partial file nor temp files behind.
    assert list(tmp_path.iterdir()) == []
    ok = SearchEntry(kind="image", id="x", post_id=None, title="t", vector=good)
    assert (
        write_search_json(
            tmp_path / "s.json",
            [ok],
            provider="h",
            model="m",
            dimensions=4,
            revision_id="r",
            site="s",
        )
        == 1
    )


def test_failed_rewrite_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "posts.json"
    write_posts_json(path, [make_post(1)], revision_id="r", site="s")
    before = path.read_bytes()

    def broken() -> Iterator[Post]:
        yield make_post(2)
        raise RuntimeError("parser crashed")

    with pytest.raises(RuntimeError):
        write_posts_json(path, broken(), revision_id="r", site="s")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts.json"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_trim_text() -> None:
    assert trim_text("short", 10) == "short"
    out = trim_text("alpha beta gamma delta", 12)
    assert len(out) <= 12 and out.endswith("…") and out == "alpha beta…"


def test_streaming_5000_posts(tmp_path: Path) -> None:
    """A generator of 5,000 posts is written without holding the document in memory."""
    produced = 0

    def gen() -> Iterator[Post]:
        nonlocal produced
        for i in range(5000):
            produced += 1
            yield make_post(i, body_words=200)

    path = tmp_path / "posts.json"
    tracemalloc.start()
    try:
        count = write_posts_json(path, gen(), revision_id="r", site="s")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert count == produced == 5000
    assert size > 10_000_000
    # Peak Python allocation stays far below the document size (the write buffer is 1 MiB).
    assert peak < size / 4, (peak, size)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["count"] == 5000 and len(doc["posts"]) == 5000
    assert doc["posts"][4999]["slug"] == "post-4999"


def test_manifest_hashes_match_files(tmp_path: Path) -> None:
    write_posts_json(tmp_path / "posts.json", [make_post(1)], revision_id="r9", site="s")
    write_media_json(tmp_path / "media.json", [], revision_id="r9", site="s")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "notes.txt").write_text("hi")
    files = ["posts.json", "media.json", "extra/notes.txt"]
    manifest = build_manifest(
        tmp_path,
        files,
        site="s",
        revision_id="r9",
        counts={"posts": 1, "media": 0},
        embedding={"provider": "hashing", "dimensions": 384},
        created_at="2026-01-01T00:00:00Z",
    )
    path = write_manifest(tmp_path, manifest)
    assert path == tmp_path / MANIFEST_JSON
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded == manifest
    assert (loaded["revision"], loaded["site"], loaded["counts"]["posts"]) == ("r9", "s", 1)
    assert list(loaded["files"]) == files
    for name, info in loaded["files"].items():
        data = (tmp_path / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert info["bytes"] == len(data)
    assert loaded["files"]["posts.json"]["content_type"] == "application/json"
    assert loaded["files"]["extra/notes.txt"]["content_type"] == "text/plain"


def test_manifest_rejects_paths_outside_dir(tmp_path: Path) -> None:
    for bad in ("../x.json", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            build_manifest(
                tmp_path, [bad], site="s", revision_id="r", counts={}, embedding={}, created_at="t"
            )


def test_sha256_file_streams_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 40_000  # ~10 MB
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
