"""export.sql (pressroom/db/export.py) loaded with the real `psql` into fresh databases.

A real process-all job with `data.exports: ["export.sql"]` loads the jekyll-docs corpus and
publishes its revision's export.sql, listed in the manifest; the published file goes into an
empty database with `psql -v ON_ERROR_STOP=1 -f` (twice: the script is idempotent) and, gzip-
compressed, through `psql` reading stdin. Then every table holds the revision's row counts,
and Pressroom's own Searcher, pointed at the fresh database, answers the 43 search-quality
queries in text, vector and hybrid modes exactly as it does on the source database.

`psql` is the one in the pgserver wheel the tests' Postgres comes from (no system package).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import tracemalloc
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pgserver._commands import POSTGRES_BIN_PATH
from temporalio.client import Client

from bench.search_quality import load_queries
from pressroom.config import Settings
from pressroom.db.export import EXPORT_SQL, EXPORT_SQL_GZ, write_export_sql
from pressroom.db.pool import connect
from pressroom.embeddings import make_embedder
from pressroom.search.params import SearchParams
from pressroom.search.searcher import Searcher
from tests.fakes.databases import fresh_database
from tests.fakes.revision_rows import generated_posts, load
from tests.jobs import job_request, run_job

PSQL = POSTGRES_BIN_PATH / "psql"
REPO_ROOT = Path(__file__).resolve().parents[3]
SITE = "jekyll-export"
TABLES = (
    "posts",
    "sections",
    "media",
    "media_thumbnails",
    "related_posts",
    "revision_terms",
    "revisions",
)


def psql(url: str, *args: str, stdin: Any = None) -> None:
    done = subprocess.run(
        [str(PSQL), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def counts(url: str, revision: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        out = {
            t: await conn.fetchval(
                f"SELECT count(*) FROM {t} WHERE site_id = $1 AND revision_id = $2",  # noqa: S608
                SITE,
                revision,
            )
            for t in TABLES
        }
        # Nothing else came in (no second copy of any row, no other revision).
        out["all posts"] = await conn.fetchval("SELECT count(*) FROM posts")
        out["all sections"] = await conn.fetchval("SELECT count(*) FROM sections")
        out["current"] = await conn.fetchval(
            "SELECT current_revision FROM sites WHERE site_id = $1", SITE
        )
        out["indexes"] = await conn.fetchval(
            "SELECT count(*) FROM revision_indexes AS r JOIN pg_class AS c "
            "ON c.relname = r.index_name WHERE r.site_id = $1 AND r.revision_id = $2",
            SITE,
            revision,
        )
        out["stated"] = await conn.fetchval(
            "SELECT counts::text FROM revisions WHERE site_id = $1 AND revision_id = $2",
            SITE,
            revision,
        )
        return out
    finally:
        await conn.close()


async def answers(url: str, searcher: Searcher) -> dict[tuple[str, str], list[Any]]:
    """Each query's top-10 in each mode: the posts and, per post, its sections."""
    conn = await connect(url, run_migrations=False)
    try:
        out = {}
        for q in load_queries():
            for mode in ("text", "vector", "hybrid"):
                params = SearchParams(query=q.query, site=SITE, mode=mode, kind="all", limit=10)
                body = await searcher.search(conn, params)
                assert body["modeUsed"] == mode
                out[q.query, mode] = [
                    (r["postId"], [s["sectionId"] for s in r["sections"]], r["score"])
                    for r in body["results"]
                ] + [("image", i["path"], i["score"]) for i in body["images"]]
        return out
    finally:
        await conn.close()


async def docs_query(url: str, tmp_path: Path, searcher: Searcher, query: str) -> list[str]:
    """The post ids the minimal /search-like query of docs/operations.md returns."""
    doc = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    sql = doc.split("the test\nabove runs it on the loaded database:\n\n```sql\n")[1]
    script = tmp_path / "search.sql"
    script.write_text("\\pset format unaligned\n\\pset tuples_only on\n" + sql.split("```")[0])
    assert searcher.embedder is not None
    [vector] = await searcher.embedder.embed([query])
    qvec = "[" + ",".join(repr(float(x)) for x in vector) + "]"
    variables = [f"site={SITE}", f"q={query}", f"qvec={qvec}", "ON_ERROR_STOP=1"]
    done = subprocess.run(
        [str(PSQL), "-X", "-q", "-d", url, *(f"--set={v}" for v in variables), "-f", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line.split("|")[0] for line in done.stdout.splitlines() if line]


async def test_export_sql_loads_into_a_fresh_database_and_searches_the_same(
    settings: Settings,
    worker: None,
    temporal_client: Client,
    jekyll_copy: Path,
    pg_url: str,
    tmp_path: Path,
) -> None:
    body = job_request(jekyll_copy, site=SITE)
    body["data"]["exports"] = ["export.sql"]
    result = await run_job(temporal_client, settings, body)
    assert result["status"] == "completed", result
    revision = result["revision"]
    published = Path(settings.artifacts_url) / "dist" / revision
    manifest = json.loads((published / "manifest.json").read_text())
    export = published / EXPORT_SQL
    assert manifest["files"][EXPORT_SQL] == {
        "bytes": export.stat().st_size,
        "sha256": hashlib.sha256(export.read_bytes()).hexdigest(),
        "content_type": "application/sql",
    }
    source = await counts(pg_url, revision)
    assert source["posts"] > 50 and source["sections"] > source["posts"], source
    assert source["related_posts"] > 0 and source["revision_terms"] > 0, source

    conn = await connect(pg_url, run_migrations=False)
    try:
        plain = await write_export_sql(conn, SITE, revision, tmp_path / "plain")
        packed = await write_export_sql(conn, SITE, revision, tmp_path / "packed", gzip_above=0)
    finally:
        await conn.close()
    assert plain.path.name == EXPORT_SQL and packed.path.name == EXPORT_SQL_GZ
    assert not (tmp_path / "packed" / EXPORT_SQL).exists()
    assert plain.rows["sections"] == source["sections"]
    # The build wrote it from the same rows: the published file has the same bytes.
    assert plain.path.read_bytes() == export.read_bytes()
    text = plain.path.read_text(encoding="utf-8")
    assert "CREATE EXTENSION IF NOT EXISTS vector" in text and "COPY sections (" in text
    # The gzip member holds the same script, and the same rows give the same bytes.
    assert gzip.decompress(packed.path.read_bytes()) == plain.path.read_bytes()
    conn = await connect(pg_url, run_migrations=False)
    try:
        again = await write_export_sql(conn, SITE, revision, tmp_path / "again", gzip_above=0)
    finally:
        await conn.close()
    assert again.path.read_bytes() == packed.path.read_bytes()

    searcher = Searcher(make_embedder(settings))
    expected = await answers(pg_url, searcher)
    assert len(expected) >= 3 * 20
    assert sum(1 for hits in expected.values() if hits) >= 3 * 20, "queries must find posts"

    async with fresh_database(pg_url, "pressroom_export") as target:
        psql(target, "-f", str(export))
        assert await counts(target, revision) == source | {
            "all posts": source["posts"],
            "all sections": source["sections"],
        }
        psql(target, "-f", str(export))  # again: idempotent
        loaded = await counts(target, revision)
        assert loaded == source | {"all posts": source["posts"], "all sections": source["sections"]}
        assert loaded["current"] == revision and loaded["indexes"] >= 2
        assert await answers(target, searcher) == expected
        top = await docs_query(target, tmp_path, searcher, "deploy to github pages")
        assert len(top) == 10 and len(set(top)) == 10, top

    async with fresh_database(pg_url, "pressroom_export_gz") as target:
        unpacked = tmp_path / "unpacked.sql"
        with gzip.open(packed.path, "rb") as src, unpacked.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        with unpacked.open("rb") as stdin:
            # As `gunzip -c export.sql.gz | psql`: the script read from stdin.
            psql(target, stdin=stdin)
        assert (await counts(target, revision))["sections"] == source["sections"]
        assert await answers(target, searcher) == expected


async def test_a_large_revision_streams_through_bounded_memory(pg_url: str, tmp_path: Path) -> None:
    # 1,500 posts, 4,500 sections: past the exact-scan size, so the revision has HNSW
    # indexes in the script too. Python's peak allocation while writing (asyncpg's buffers,
    # the file's) stays a fraction of the script: the rows stream, none is held.
    async with fresh_database(pg_url, "pressroom_export_big") as source:
        conn = await connect(source)
        try:
            await load(conn, "big", "r1", generated_posts(1500))
            tracemalloc.start()
            try:
                written = await write_export_sql(conn, "big", "r1", tmp_path, gzip_above=1 << 40)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        finally:
            await conn.close()
        size = written.path.stat().st_size
        assert written.rows["sections"] == 4500
        assert peak * 4 < size, (peak, size)
        async with fresh_database(pg_url, "pressroom_export_big_target") as target:
            psql(target, "-f", str(written.path))
            conn = await asyncpg.connect(target)
            try:
                assert await conn.fetchval("SELECT count(*) FROM sections") == 4500
                hnsw = await conn.fetchval(
                    "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING hnsw%'"
                )
                assert hnsw == 2  # sections and media
            finally:
                await conn.close()


async def test_a_revision_that_is_not_loaded_has_no_export(pg_url: str, tmp_path: Path) -> None:
    conn = await connect(pg_url)
    try:
        with pytest.raises(LookupError):
            await write_export_sql(conn, "no-such-site", "r1", tmp_path)
    finally:
        await conn.close()
