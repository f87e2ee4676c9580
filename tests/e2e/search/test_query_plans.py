"""Searches use the revision's own indexes, and stay complete, with several sites loaded.

Three sites of 400 real posts each (bench/real_corpus.py's replicated mix, each site with
its own seed), two kept revisions each, are loaded through the real steps into Postgres 16
with pgvector 0.6 (the embedded runtime's) and Postgres 18 with pgvector 0.8 (iterative
HNSW scans, as production images carry). Then, for every mode, kind and filter:

- every statement the searcher ran is run again under `EXPLAIN (ANALYZE, BUFFERS)` with the
  same parameters and session settings, and fails the test if it scans a whole table of
  posts, sections or media;
- filtered vector results are the filter's true nearest posts (all of them pass it);
- one site's answers are the same whether it is alone in its database or beside two others.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from bench.real_corpus import build_replicated, corpus_posts
from bench.search_quality import load_queries, load_site
from pressroom.db.pool import connect
from pressroom.embeddings.hashing import HashingEmbedder
from pressroom.search import queries
from pressroom.search.params import SearchParams
from pressroom.search.searcher import Searcher
from tests.conftest import JEKYLL
from tests.fakes.databases import fresh_database

POSTS = 400
SITES = ("plan-a", "plan-b", "plan-c")
LARGE_TABLES = {"posts", "sections", "media", "related_posts"}
QUERIES = [q.query for q in load_queries()][:6]


@dataclass(frozen=True)
class Loaded:
    url: str
    current: dict[str, str]  # site -> current revision
    iterative: bool  # the server's pgvector has iterative HNSW scans


async def _load_sites(url: str, work: Path, sites: tuple[str, ...]) -> dict[str, str]:
    current: dict[str, str] = {}
    for n, site in enumerate(SITES):
        if site not in sites:
            continue
        tree = build_replicated(work / site, POSTS, seed=500 + n)
        for r in range(2):
            if r:  # the next revision: one post edited
                first = tree / corpus_posts(tree)[0]
                first.write_text(first.read_text() + "\n\nA second revision.\n")
            current[site] = await load_site(
                url, tree, site=site, work_dir=work, job_id=f"{site}-{r}"
            )
    return current


@pytest_asyncio.fixture(scope="module", params=["pg_url", "pg18_url"])
async def loaded(request: pytest.FixtureRequest) -> AsyncIterator[Loaded]:
    server: str = request.getfixturevalue(request.param)
    work = Path(tempfile.mkdtemp(prefix="pressroom-plans-"))
    try:
        async with fresh_database(server, "pressroom_plans") as url:
            current = await _load_sites(url, work, SITES)
            conn = await asyncpg.connect(url)
            try:
                version = await conn.fetchval(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
                )
            finally:
                await conn.close()
            yield Loaded(url, current, iterative=tuple(map(int, version.split(".")[:2])) >= (0, 8))
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Recording:
    """An asyncpg connection that records the statements run through it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.statements: list[tuple[str, str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append(("execute", sql, args))
        return await self._conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self.statements.append(("fetch", sql, args))
        return await self._conn.fetch(sql, *args)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


async def _filters(conn: asyncpg.Connection, site: str, revision: str) -> dict[str, dict[str, Any]]:
    """A rare tag, a common tag and a date range that the site's posts really carry."""
    tags = await conn.fetch(
        """
        SELECT lower(t) AS tag, count(*) AS n FROM posts, unnest(tags) AS t
        WHERE site_id = $1 AND revision_id = $2 GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        site,
        revision,
    )
    assert len(tags) >= 2, "the corpus mix should carry tags"
    dates = await conn.fetchrow(
        "SELECT min(date) AS lo, max(date) AS hi FROM posts "
        "WHERE site_id = $1 AND revision_id = $2 AND date IS NOT NULL",
        site,
        revision,
    )
    middle = dates["lo"] + (dates["hi"] - dates["lo"]) / 2
    return {
        "none": {},
        "common-tag": {"tags": (tags[0]["tag"],)},
        "rare-tag": {"tags": (tags[-1]["tag"],)},
        "dates": {"date_from": middle, "date_to": datetime(2100, 1, 1, tzinfo=UTC)},
    }


def _params(site: str, query: str, mode: str, kind: str, extra: dict[str, Any]) -> SearchParams:
    return SearchParams(query=query, site=site, mode=mode, kind=kind, limit=10, **extra)


@pytest.mark.parametrize("path", ["graph", "exact"])
@pytest.mark.parametrize("mode", ["text", "vector", "hybrid"])
async def test_every_statement_uses_an_index(
    loaded: Loaded, mode: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both paths, whatever the sites' size: the revision's indexes (HNSW graph, filters
    # applied to what the indexes give), and the exact scan that small revisions get, with
    # filters applied by the ids of the posts that pass.
    graph_path = path == "graph"
    monkeypatch.setattr(queries, "EXACT_SCAN_MAX_ROWS", 0 if graph_path else 10**9)
    monkeypatch.setattr(queries, "BY_POSTS_MAX", 0 if graph_path else 10**9)
    site = SITES[1]
    searcher = Searcher(HashingEmbedder(384))
    conn = await connect(loaded.url)
    try:
        filters = await _filters(conn, site, loaded.current[site])
        used: set[str] = set()
        for name, extra in filters.items():
            for kind in ("all", "posts", "images"):
                recording = Recording(conn)
                await searcher.search(recording, _params(site, QUERIES[0], mode, kind, extra))  # type: ignore[arg-type]
                async with conn.transaction():
                    for verb, sql, args in recording.statements:
                        if verb == "execute":
                            await conn.execute(sql, *args)
                            continue
                        explained = await conn.fetchval(
                            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args
                        )
                        [plan] = json.loads(explained)
                        for node in _nodes(plan["Plan"]):
                            relation = node.get("Relation Name")
                            assert not (
                                node["Node Type"] == "Seq Scan" and relation in LARGE_TABLES
                            ), f"{mode}/{kind}/{name}: a sequential scan of {relation}:\n{sql}"
                            if "Index Name" in node:
                                used.add(node["Index Name"])
        # The revision's own partial indexes serve the searches, not a shared one.
        graph = mode != "text" and path == "graph"
        assert any(n.startswith("sections_gin_") for n in used) == (mode != "vector")
        assert any(n.startswith("media_gin_") for n in used) == (mode != "vector")
        assert any(n.startswith("sections_hnsw_") for n in used) == graph
        # (These sites have a few hundred images: the planner may sort them rather than walk
        # their graph; either way, no other revision's rows are read.)
        assert not any(n.startswith("media_hnsw_") for n in used) or graph
        assert "sections_tsv_gin" not in used
    finally:
        await conn.close()


async def _exact_top_posts(
    conn: asyncpg.Connection, site: str, revision: str, query: Any, extra: dict[str, Any]
) -> list[str]:
    """The filter's ten nearest posts by their best section, computed without any index."""
    tags = list(extra["tags"]) if extra.get("tags") else None
    rows = await conn.fetch(
        """
        SELECT s.post_id, min(s.embedding::vector(384) <=> $3::vector(384)) AS d
        FROM sections AS s JOIN posts AS p USING (site_id, revision_id, post_id)
        WHERE s.site_id = $1 AND s.revision_id = $2
          AND ($4::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest(p.tags) AS t
                                             WHERE lower(t) = ANY($4::text[])))
          AND ($5::timestamptz IS NULL OR p.date >= $5)
        GROUP BY s.post_id ORDER BY d, s.post_id LIMIT 10
        """,
        site,
        revision,
        query,
        tags,
        extra.get("date_from"),
    )
    return [r["post_id"] for r in rows]


@pytest.mark.parametrize("by_posts", [False, True])
@pytest.mark.parametrize("name", ["none", "common-tag", "rare-tag", "dates"])
async def test_filtered_vector_results_are_the_nearest_that_pass(
    loaded: Loaded, name: str, by_posts: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "BY_POSTS_MAX", 10**9 if by_posts else 0)
    site = SITES[2]
    revision = loaded.current[site]
    embedder = HashingEmbedder(384)
    searcher = Searcher(embedder)
    conn = await connect(loaded.url)
    try:
        extra = (await _filters(conn, site, revision))[name]
        overlap: list[float] = []
        for query in QUERIES:
            body = await searcher.search(conn, _params(site, query, "vector", "posts", extra))
            got = [r["postId"] for r in body["results"]]
            [vector] = await embedder.embed([query])
            want = await _exact_top_posts(conn, site, revision, vector, extra)
            # As many as there are, every one passing the filter (`want` is computed with
            # it), and the true nearest: exactly where a filter left the index too few rows,
            # else as HNSW finds them.
            assert len(got) == len(want) > 0
            assert set(got) <= set(await _passing(conn, site, revision, extra))
            overlap.append(len(set(got) & set(want)) / len(want))
        assert sum(overlap) / len(overlap) >= 0.9, overlap
    finally:
        await conn.close()


async def _passing(
    conn: asyncpg.Connection, site: str, revision: str, extra: dict[str, Any]
) -> list[str]:
    tags = list(extra["tags"]) if extra.get("tags") else None
    rows = await conn.fetch(
        """
        SELECT post_id FROM posts AS p
        WHERE site_id = $1 AND revision_id = $2
          AND ($3::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest(p.tags) AS t
                                             WHERE lower(t) = ANY($3::text[])))
          AND ($4::timestamptz IS NULL OR p.date >= $4)
        """,
        site,
        revision,
        tags,
        extra.get("date_from"),
    )
    return [r["post_id"] for r in rows]


async def test_a_site_answers_the_same_alone_or_beside_others(loaded: Loaded, pg_url: str) -> None:
    # The jekyll-docs site and its 43 quality queries, loaded beside the three sites above
    # and alone in a database of its own.
    work = Path(tempfile.mkdtemp(prefix="pressroom-alone-"))
    try:
        await load_site(loaded.url, _copy(JEKYLL, work / "beside"), site="jekyll", work_dir=work)
        async with fresh_database(pg_url, "pressroom_alone") as alone_url:
            await load_site(alone_url, _copy(JEKYLL, work / "alone"), site="jekyll", work_dir=work)
            searcher = Searcher(HashingEmbedder(384))
            beside, alone = await connect(loaded.url), await connect(alone_url)
            try:
                for query in [q.query for q in load_queries()]:
                    for mode in ("text", "vector", "hybrid"):
                        params = _params("jekyll", query, mode, "posts", {})
                        a = [r["postId"] for r in (await searcher.search(alone, params))["results"]]
                        b = [
                            r["postId"] for r in (await searcher.search(beside, params))["results"]
                        ]
                        assert _at_most_one_adjacent_swap(a, b), (mode, query, a, b)
            finally:
                await beside.close()
                await alone.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _at_most_one_adjacent_swap(a: list[str], b: list[str]) -> bool:
    if a == b:
        return True
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
    if len(a) != len(b) or len(diff) != 2 or diff[1] != diff[0] + 1:
        return False
    i = diff[0]
    return a[i] == b[i + 1] and a[i + 1] == b[i]


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest
