"""The search.json reader: the same queries as the database answers, from the published file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.pool import connect
from pressroom.embeddings import HashingEmbedder
from pressroom.publish.artifacts import SearchEntry, write_search_json
from pressroom.search.file import Analyzer, SearchFile
from pressroom.search.params import SearchError, SearchParams
from pressroom.search.searcher import Searcher
from tests.fakes.search_sites import EXAMPLE_BLOG
from tests.jobs import job_request, run_job

QUERIES = [
    "wind speed calibration",
    "condensation inside the enclosure",
    "solar panel battery budget for december",
    "lora radio telemetry",
    "sqlite database on the gateway",
    "choosing a microcontroller",
    "fog and dew point",
]


def entry(id_: str, title: str, text: str, **kw: object) -> SearchEntry:
    post_id = id_.split("#")[0]
    return SearchEntry(kind="section", id=id_, post_id=post_id, title=title, vector=None,
                       text=text, anchor=id_.split("#")[1], **kw)  # type: ignore[arg-type]


def small_file(tmp_path: Path) -> SearchFile:
    path = tmp_path / "search.json"
    write_search_json(
        path,
        [
            entry("a#", "Configuration", "How to configure the site with a YAML file.",
                  tags=["setup"], date="2024-01-10"),
            entry("a#defaults", "Configuration", "Front matter defaults apply to folders.",
                  heading="Defaults", tags=["setup"], date="2024-01-10"),
            entry("b#", "Deploying", "Push the built site to a static host like S3.",
                  tags=["ops"], date="2024-03-01"),
            entry("c#", "Ruby notes", "Ruby gems and bundler; configured once.",
                  tags=["ruby"], date="2023-12-01"),
            SearchEntry(kind="image", id="img/map.png", post_id="b", title="Relief map",
                        vector=None, url="img/map.png", text="Shaded relief map of the ridge"),
        ],
        revision_id="r1",
        site="s",
    )  # fmt: skip
    return SearchFile.load(path)


def test_text_queries_stem_rank_and_group(tmp_path: Path) -> None:
    index = small_file(tmp_path)
    hits = index.search("configured", kind="posts")
    # Snowball stems, as PostgreSQL's english configuration does: configured ~ configure.
    assert [r["postId"] for r in hits["results"]] == ["a", "c"]  # title weight puts a first
    assert hits["results"][0]["sections"][0]["snippetHtml"].count("<mark>") >= 1
    assert hits["images"] == []
    # Phrases must appear in order; `-term` excludes; terms are OR-ed.
    assert [r["postId"] for r in index.search('"front matter"')["results"]] == ["a"]
    assert [r["postId"] for r in index.search('"matter front"')["results"]] == []
    assert [r["postId"] for r in index.search("site -ruby")["results"]] == ["a", "b"]
    assert {r["postId"] for r in index.search("yaml s3")["results"]} == {"a", "b"}
    # Filters and image hits.
    assert [r["postId"] for r in index.search("site", tags=["OPS"])["results"]] == ["b"]
    from datetime import UTC, datetime

    recent = index.search("site", date_from=datetime(2024, 2, 1, tzinfo=UTC))
    assert [r["postId"] for r in recent["results"]] == ["b"]
    images = index.search("relief map", kind="images")
    assert images["results"] == [] and images["images"][0]["path"] == "img/map.png"


def test_bad_queries_are_refused(tmp_path: Path) -> None:
    index = small_file(tmp_path)
    for kwargs, parameter in [
        ({"query": " "}, "q"),
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "kind": "videos"}, "kind"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "mode": "vector"}, "mode"),  # no query vector
    ]:
        with pytest.raises(SearchError) as err:
            index.search(**kwargs)  # type: ignore[arg-type]
        assert err.value.parameter == parameter
    with pytest.raises(ValueError, match="format"):
        SearchFile({"format": "something/1"})


def test_analyzer_matches_postgres_english_stems() -> None:
    a = Analyzer()
    # The stems PostgreSQL's english configuration gives (checked with to_tsvector).
    assert [a.stem(w) for w in ("configured", "configuration", "deploying")] == [
        "configur", "configur", "deploy",
    ]  # fmt: skip
    assert a.tokens("The site of the year") == ["", "site", "", "", "year"]


async def test_the_published_file_answers_like_the_database(
    settings: Settings, temporal_client: Client, worker: None, tmp_path: Path, pg_url: str
) -> None:
    blog = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, blog)
    result = await run_job(temporal_client, settings, job_request(blog, site="file-blog"))
    path = Path(settings.artifacts_location) / "dist" / result["revision"] / "search.json"
    index = SearchFile.load(path)
    assert index.embedding and index.embedding["dimensions"] == 384

    embedder = HashingEmbedder(384)
    searcher = Searcher(embedder)
    conn = await connect(pg_url)
    try:
        for query in QUERIES:
            from_file = index.search(query, kind="posts", limit=5)
            params = SearchParams(query=query, site="file-blog", mode="text", kind="posts")
            from_db = await searcher.search(conn, params)
            file_ids = [r["postId"] for r in from_file["results"]]
            db_ids = [r["postId"] for r in from_db["results"]]
            assert file_ids[0] == db_ids[0], query
            assert len(set(file_ids[:3]) & set(db_ids[:3])) >= 2, query

            # Hybrid with the stored vectors and the same embedder: same winner again.
            vector = (await embedder.embed([query]))[0]
            hybrid = index.search(query, mode="hybrid", query_vector=vector, kind="posts")
            params = SearchParams(query=query, site="file-blog", mode="hybrid", kind="posts")
            db_hybrid = await searcher.search(conn, params)
            assert hybrid["results"][0]["postId"] == db_hybrid["results"][0]["postId"], query
    finally:
        await conn.close()

    # Vectors alone: the stored vectors are the database's, so the nearest post agrees.
    vector = (await embedder.embed(["relief map of the trail"]))[0]
    by_vector = index.search("relief map of the trail", mode="vector", query_vector=vector)
    assert by_vector["images"][0]["path"] == "ridge-deployment/ridge-map.jpg"
    sims = [float(np.dot(e.vector, vector)) for e in index.images if e.vector is not None]
    assert max(sims) > 0.3
