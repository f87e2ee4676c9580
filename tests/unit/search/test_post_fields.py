"""A post's url, dates, authors and summary as rows, hits and search.json entries: bounded the
same way everywhere, written once per post in search.json, read back by the file back end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pressroom.db import rows
from pressroom.models import Post, Section
from pressroom.publish.artifacts import SearchEntry, write_search_json
from pressroom.search.file import SearchFile
from pressroom.search.hits import HIT_CAPS, bounded_urls, post_fields
from pressroom.steps.artifacts import search_entries
from pressroom.storage.workstore import write_jsonl


def make_post(post_id: str = "blog/x", sections: int = 2, **fields: object) -> Post:
    return Post(
        id=post_id,
        slug=post_id.rsplit("/", 1)[-1],
        path=f"{post_id}.md",
        title="Station notes",
        sections=[
            Section(id=f"{post_id}#s{i}", post_id=post_id, anchor=f"s{i}", heading=f"H{i}",
                    level=2, position=i, text=f"station text {i}")
            for i in range(sections)
        ],
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_post_fields_are_bounded() -> None:
    day = datetime(2024, 5, 2, tzinfo=UTC)
    got = post_fields(url="/blog/x/", date=day, updated=None, authors=["Ada"], summary="Short.")
    assert got == {
        "url": "/blog/x/", "date": "2024-05-02T00:00:00+00:00", "updated": None,
        "authors": ["Ada"], "summary": "Short.",
    }  # fmt: skip
    huge = post_fields(
        url="/" + "x" * HIT_CAPS["url"],
        date=None,
        updated=None,
        authors=["A" * 1000] * 50,
        summary="word " * 100_000,
    )
    assert huge["url"] is None  # a cut URL is a broken link: dropped
    assert len(huge["authors"]) == HIT_CAPS["authors"]
    assert all(len(a) <= HIT_CAPS["author"] for a in huge["authors"])
    assert len(huge["summary"]) <= HIT_CAPS["summary"] and huge["summary"].endswith("…")
    assert post_fields(url="", date=None, updated=None, authors=[], summary=None)["url"] is None
    assert bounded_urls(["/a/", "/" + "y" * 5000, *[f"/{i}/" for i in range(50)]])[:2] == [
        "/a/", "/0/",
    ]  # fmt: skip
    assert len(bounded_urls([f"/{i}/" for i in range(50)])) == HIT_CAPS["aliases"]


def test_post_rows_store_url_aliases_and_summary() -> None:
    post = make_post(
        url="https://example.org/x/", aliases=["/old/x/", "/x\x00/"], summary="A s\x00ummary.",
        date="2024-05-02", updated="2024-06-01 10:00:00 +0200", authors=["Ada", "Grace"],
    )  # fmt: skip
    record = dict(zip(rows._POST_COLUMNS, rows._post_record("s", "r1", post), strict=True))
    assert record["url"] == "https://example.org/x/"
    assert record["aliases"] == ["/old/x/", "/x/"]  # NUL dropped: Postgres text refuses it
    assert record["summary"] == "A summary."
    assert record["authors"] == ["Ada", "Grace"]
    assert record["date"] == datetime(2024, 5, 2, tzinfo=UTC)
    assert record["updated"] == datetime(2024, 6, 1, 8, tzinfo=UTC)
    assert dict(zip(rows._POST_COLUMNS, rows._post_record("s", "r1", make_post()),
                    strict=True))["url"] is None  # fmt: skip


def _write(tmp_path: Path, posts: list[Post]) -> Path:
    posts_path, media_path = tmp_path / "posts.jsonl", tmp_path / "media.jsonl"
    write_jsonl(posts_path, (p.model_dump(mode="json") for p in posts))
    write_jsonl(media_path, [])
    path = tmp_path / "search.json"
    write_search_json(path, search_entries(posts_path, media_path, None, None),
                      revision_id="r1", site="s")  # fmt: skip
    return path


def test_search_json_has_post_fields_once_per_post_and_bounded(tmp_path: Path) -> None:
    big = make_post(
        "blog/big", sections=3, url="/" + "u" * 5000, summary="long " * 10_000,
        authors=[f"Author {i}" for i in range(40)], date="2024-05-02",
    )  # fmt: skip
    small = make_post("blog/small", url="/blog/small/", summary="Small.", authors=["Ada"])
    path = _write(tmp_path, [big, small])
    entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
    assert [bool({"summary", "authors", "updated"} <= e.keys()) for e in entries] == [
        True, False, False, True, False,
    ]  # fmt: skip
    assert all(e["url"] == "" for e in entries[:3])  # over the URL cap: no link at all
    assert all(e["url"] == "/blog/small/" for e in entries[3:])
    assert len(entries[0]["summary"]) <= HIT_CAPS["summary"]
    assert len(entries[0]["authors"]) == HIT_CAPS["authors"]
    # What the fields cost: the big summary once, not once per section.
    assert path.stat().st_size < 3 * HIT_CAPS["summary"] + 2000

    hits = SearchFile.load(path).search("station", kind="posts")["results"]
    by_id = {h["postId"]: h for h in hits}
    assert by_id["blog/small"]["url"] == "/blog/small/"
    assert by_id["blog/small"]["authors"] == ["Ada"]
    assert by_id["blog/big"]["url"] is None
    assert by_id["blog/big"]["date"] == "2024-05-02T00:00:00+00:00"


def test_an_older_search_json_still_answers_with_every_hit_field(tmp_path: Path) -> None:
    """A file written before the post fields (no authors, summary, updated; url "")."""
    path = tmp_path / "search.json"
    write_search_json(
        path,
        [SearchEntry(kind="section", id="a#", post_id="a", title="Station", vector=None,
                     text="station text", date="2024-01-10")],
        revision_id="r1",
        site="s",
    )  # fmt: skip
    (hit,) = SearchFile.load(path).search("station")["results"]
    assert {k: hit[k] for k in ("url", "date", "updated", "authors", "summary")} == {
        "url": None, "date": "2024-01-10T00:00:00+00:00", "updated": None, "authors": [],
        "summary": "",
    }  # fmt: skip
