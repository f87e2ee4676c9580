"""search.db against search.json on the real corpora (issue 16, done-when 1).

A real job per corpus with `data.exports: ["search.db"]` publishes both files; each query
runs on both, with the same query vector (the job's embedder, the local hashing one):
vector mode's top 10 posts are equal, text and hybrid overlap by at least 80% on average,
and on the 43-query set (tests/data/queries.yaml) recall@10 and MRR per mode are within
0.02 of search.json's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from temporalio.client import Client

from bench.search_quality import MODES, load_queries, score
from pressroom.config import Settings
from pressroom.embeddings import HashingEmbedder
from pressroom.search.file import SearchFile
from pressroom.search.search_db import SearchDB
from tests.jobs import job_request, run_job

CORPORA = Path(__file__).resolve().parents[3].parent / "shared" / "corpora"
# What a reader of the Hugo docs would type (no expected answers: compared, not scored).
HUGO_QUERIES = [
    "install hugo on linux", "directory structure of a project", "front matter fields",
    "taxonomies tags and categories", "configure menus", "image processing resize",
    "shortcode for a figure", "render hooks for links", "pagination of list pages",
    "multilingual sites translation", "output formats json rss", "sass to css pipeline",
    "hugo modules vendor", "deploy to netlify", "partial templates with context",
    "range over pages sorted by date", "page bundles and resources", "syntax highlighting",
    "sitemap template", "related content configuration", "create a new site command",
    "where function filter pages", "string replace function", "convert markdown to html",
    "table of contents", "archetypes for new content", "base template and blocks",
    "summary length", "cascade front matter to descendants", "math with katex",
    "environment variables in configuration", "cache busting fingerprint",
]  # fmt: skip


def _overlap(a: list[str], b: list[str]) -> float:
    return len(set(a) & set(b)) / len(b) if b else float(not a)


async def _publish(
    settings: Settings, client: Client, tmp_path: Path, corpus: str
) -> tuple[SearchFile, SearchDB]:
    source = tmp_path / corpus
    shutil.copytree(CORPORA / corpus, source)
    body = job_request(source, site=f"db-{corpus}")
    body["data"]["exports"] = ["search.db"]
    result = await run_job(client, settings, body)
    folder = Path(settings.artifacts_location) / "dist" / result["revision"]
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = manifest["files"]["search.db"]
    assert listed["bytes"] == (folder / "search.db").stat().st_size
    assert listed["content_type"] == "application/vnd.sqlite3" and len(listed["sha256"]) == 64
    return SearchFile.load(folder / "search.json"), SearchDB.open(folder / "search.db")


def _ids(body: dict) -> list[str]:
    return [r["postId"] for r in body["results"]]


def _quality(ranked: list[list[str]], expected: list[tuple[str, ...]]) -> tuple[float, float]:
    """(recall@10, MRR) of one back end's ranked post ids per query."""
    pairs = [score(r, e) for r, e in zip(ranked, expected, strict=True)]
    return sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs)


@pytest.mark.parametrize("corpus", ["jekyll-docs", "hugo-docs"])
async def test_search_db_answers_like_search_json(
    settings: Settings, temporal_client: Client, worker: None, tmp_path: Path, corpus: str
) -> None:
    file, db = await _publish(settings, temporal_client, tmp_path, corpus)
    assert db.embedding and file.embedding
    assert db.embedding["dimensions"] == file.embedding["dimensions"] == 384
    scored = load_queries() if corpus == "jekyll-docs" else []
    queries = [q.query for q in scored] or HUGO_QUERIES
    assert len(queries) >= 30
    vectors = await HashingEmbedder(384).embed(queries)
    ranked: dict[str, dict[str, list[list[str]]]] = {"json": {}, "db": {}}
    for mode in MODES:
        for name, index in (("json", file), ("db", db)):
            ranked[name][mode] = [
                _ids(index.search(q, mode=mode, kind="posts", limit=10, query_vector=v))
                for q, v in zip(queries, vectors, strict=True)
            ]
    db.close()
    for q, got, want in zip(queries, ranked["db"]["vector"], ranked["json"]["vector"], strict=True):
        assert got == want, q
    overlaps = {
        mode: [
            _overlap(g, w) for g, w in zip(ranked["db"][mode], ranked["json"][mode], strict=True)
        ]
        for mode in ("text", "hybrid")
    }
    means = {mode: round(sum(v) / len(v), 3) for mode, v in overlaps.items()}
    print(f"{corpus}, {len(queries)} queries: mean top-10 overlap with search.json {means}")
    assert all(m >= 0.8 for m in means.values()), means
    if not scored:
        return
    assert len(scored) == 43
    expected = [q.expected for q in scored]
    for mode in MODES:
        json_q, db_q = (
            _quality(ranked["json"][mode], expected),
            _quality(ranked["db"][mode], expected),
        )
        print(f"{mode}: recall@10, MRR: search.json {json_q}, search.db {db_q}")
        assert abs(db_q[0] - json_q[0]) <= 0.02 and abs(db_q[1] - json_q[1]) <= 0.02, (
            mode,
            json_q,
            db_q,
        )
