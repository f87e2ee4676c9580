"""The Postgres layer against a real PostgreSQL 16 + pgvector server (pgserver).

Each test module gets its own database; tests isolate themselves further with distinct
site ids, so they can run in any order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import frontmatter
import numpy as np
import pytest
from pgvector import Vector

from pressroom.db.cache import get_cached_embeddings, put_cached_embeddings
from pressroom.db.pool import connect, create_pool
from pressroom.db.revision_indexes import (
    backfill_revision_indexes,
    build_revision_indexes,
    revision_index_name,
    text_index_name,
)
from pressroom.db.revisions import RevisionLoad, load_revision, prune_revisions
from pressroom.db.rows import MediaRow, SectionRow, parse_timestamp
from pressroom.db.schema import migrate
from pressroom.db.terms import backfill_revision_terms, store_revision_terms
from pressroom.models import ImageRef, Link, MediaItem, MediaRef, Post, Section
from pressroom.search.params import EmbeddingMismatch, SearchParams, SiteNotFound
from pressroom.search.searcher import Searcher
from tests.conftest import JEKYLL
from tests.fakes.databases import fresh_database
from tests.stored import current_revision_id, revision_counts, text_search

# --- fixtures and builders ----------------------------------------------------------------------


@pytest.fixture(scope="module")
async def db_url(pg_url: str) -> AsyncIterator[str]:
    async with fresh_database(pg_url) as url:
        yield url


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(db_url)
    yield connection
    await connection.close()


def unit(rng: np.random.Generator, dims: int) -> np.ndarray:
    v = rng.standard_normal(dims).astype(np.float32)
    return v / np.linalg.norm(v)


def make_post(post_id: str, title: str, texts: list[str], **extra: object) -> Post:
    sections = [
        Section(
            id=f"{post_id}#{'' if i == 0 else f's{i}'}",
            post_id=post_id,
            anchor="" if i == 0 else f"s{i}",
            heading="" if i == 0 else f"Heading {i}",
            level=0 if i == 0 else 2,
            position=i,
            text=text,
        )
        for i, text in enumerate(texts)
    ]
    return Post(
        id=post_id,
        slug=post_id.rsplit("/", 1)[-1],
        path=f"{post_id}.md",
        title=title,
        text="\n".join(texts),
        sections=sections,
        word_count=sum(len(t.split()) for t in texts),
        reading_time=1,
        content_sha256="0" * 64,
        **extra,  # type: ignore[arg-type]
    )


def section_rows(posts: list[Post], rng: np.random.Generator, dims: int | None) -> list[SectionRow]:
    return [
        SectionRow.from_section(
            s, post_title=p.title, embedding=None if dims is None else unit(rng, dims)
        )
        for p in posts
        for s in p.sections
    ]


def sample(dims: int, seed: int = 0) -> tuple[list[Post], list[SectionRow], list[MediaRow]]:
    rng = np.random.default_rng(seed)
    posts = [
        make_post(
            "posts/alpha",
            "Alpha",
            ["Intro to alpha.", "Gardening with tomatoes.", "Watering schedules."],
            date="2024-03-01",
            updated="2024-03-05T10:00:00Z",
            tags=["garden"],
            links=[Link(url="https://example.com", text="ex")],
            images=[ImageRef(src="img/a.png", path="img/a.png", alt="A tomato")],
            front_matter={"title": "Alpha", "tags": ["garden"]},
        ),
        make_post("posts/beta", "Beta", ["Beta intro.", "Sailing on the lake."]),
        make_post("posts/gamma", "Gamma", ["Gamma intro."], date="not a date"),
    ]
    media = [
        MediaRow.from_item(
            MediaItem(
                path="img/a.png",
                mime="image/png",
                bytes=1234,
                sha256="a" * 64,
                width=10,
                height=20,
                referenced_by=[
                    MediaRef(post_id="posts/alpha", alt="A tomato"),
                    MediaRef(post_id="posts/alpha", alt="A tomato"),
                    MediaRef(post_id="posts/beta", alt=""),
                ],
            ),
            embedding=unit(rng, dims),
        ),
        MediaRow(path="img/b.svg", mime="image/svg+xml", bytes=99, sha256="b" * 64),
    ]
    return posts, section_rows(posts, rng, dims), media


async def load(
    conn: asyncpg.Connection,
    site: str,
    revision: str,
    data: tuple[list[Post], list[SectionRow], list[MediaRow]],
    dims: int,
    **kw: object,
) -> dict[str, int]:
    posts, sections, media = data
    args: dict[str, object] = {
        "site": site,
        "revision_id": revision,
        "job_id": f"job-{revision}",
        "posts": posts,
        "sections": sections,
        "media": media,
        "provider": "test",
        "model": "random",
        "dimensions": dims,
    }
    args.update(kw)
    return (await load_revision(conn, RevisionLoad(**args))).counts  # type: ignore[arg-type]


class QueryVector:
    """An embedder that embeds every query as one given vector (the revisions here are
    embedded by provider "test", model "random"): searches by that vector."""

    provider, model, version = "test", "random", "1"
    max_batch_inputs, max_batch_tokens, max_input_tokens = 1, 1000, 1000

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = np.asarray(vector, dtype=np.float32)
        self.dimensions = len(self.vector)

    async def embed(self, texts: object) -> np.ndarray:
        return np.stack([self.vector])


async def search(
    conn: asyncpg.Connection,
    site: str,
    query: str,
    vector: np.ndarray,
    *,
    mode: str = "hybrid",
    limit: int = 10,
) -> list[dict[str, object]]:
    """Posts found by the real searcher (`GET /search`), `query` embedded as `vector`."""
    params = SearchParams(query=query, site=site, mode=mode, kind="posts", limit=limit)
    return (await Searcher(QueryVector(vector)).search(conn, params))["results"]


# --- migration --------------------------------------------------------------------------------


async def test_migrate_concurrently_on_a_fresh_database_and_again(pg_url: str) -> None:
    async with fresh_database(pg_url) as url:
        conns = [await asyncpg.connect(url) for _ in range(3)]
        try:
            # Without the advisory lock, concurrent CREATE EXTENSION / CREATE TABLE IF NOT
            # EXISTS fail with unique violations on the catalogs.
            await asyncio.gather(*(migrate(c, force=True) for c in conns))
            await migrate(conns[0])
            await migrate(conns[0], force=True)
            tables = {
                r["tablename"]
                for r in await conns[0].fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            }
            assert {"sites", "revisions", "posts", "sections", "media", "embedding_cache"} <= tables
            assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == 1
            assert await conns[0].fetchval("SELECT to_regclass('sections_tsv_gin')") is not None
        finally:
            for c in conns:
                await c.close()
        # The codec can only be registered once the extension exists: connect() migrates first.
        conn = await connect(url)
        try:
            assert await conn.fetchval("SELECT '[1,2]'::vector") == Vector([1.0, 2.0])
        finally:
            await conn.close()


async def test_create_pool_registers_codec_and_runs_user_init(db_url: str) -> None:
    seen: list[int] = []

    async def init(c: asyncpg.Connection) -> None:
        seen.append(1)

    pool = await create_pool(db_url, min_size=1, max_size=2, init=init)
    try:
        async with pool.acquire() as c:
            vec = await c.fetchval("SELECT $1::vector", np.array([0.5, 1.5], dtype=np.float32))
        assert np.allclose(vec.to_numpy(), [0.5, 1.5])
        assert seen
    finally:
        await pool.close()


# --- loading ----------------------------------------------------------------------------------


async def test_load_counts_rows_and_vectors(conn: asyncpg.Connection) -> None:
    data = sample(8)
    counts = await load(conn, "site-load", "r1", data, 8)

    assert counts == {"posts": 3, "sections": 6, "media": 2}
    assert await revision_counts(conn, "site-load", "r1") == counts
    assert await current_revision_id(conn, "site-load") == "r1"

    rev = await conn.fetchrow("SELECT * FROM revisions WHERE site_id = 'site-load'")
    assert rev["state"] == "ready" and rev["committed_at"] is not None
    assert rev["job_id"] == "job-r1" and rev["dimensions"] == 8

    _, sections, _ = data
    stored = await conn.fetchrow(
        "SELECT dims, embedding, post_title, tsv FROM sections "
        "WHERE site_id = 'site-load' AND section_id = $1",
        sections[1].section_id,
    )
    assert stored["dims"] == 8 and stored["post_title"] == "Alpha"
    assert np.allclose(stored["embedding"].to_numpy(), sections[1].embedding)
    assert "tomato" in stored["tsv"]

    post = await conn.fetchrow(
        "SELECT * FROM posts WHERE site_id = 'site-load' AND post_id = 'posts/alpha'"
    )
    assert post["date"] == datetime(2024, 3, 1, tzinfo=UTC)
    assert post["updated"] == datetime(2024, 3, 5, 10, tzinfo=UTC)
    assert post["tags"] == ["garden"]
    assert '"front_matter"' in post["data"] and "https://example.com" in post["data"]
    gamma = await conn.fetchrow(
        "SELECT date FROM posts WHERE site_id = 'site-load' AND post_id = 'posts/gamma'"
    )
    assert gamma["date"] is None  # unparseable dates are stored as NULL, not a failed load

    media = {
        r["path"]: r for r in await conn.fetch("SELECT * FROM media WHERE site_id = 'site-load'")
    }
    assert media["img/a.png"]["alt_texts"] == ["A tomato"]
    assert media["img/a.png"]["post_ids"] == ["posts/alpha", "posts/beta"]
    assert media["img/a.png"]["dims"] == 8
    assert media["img/b.svg"]["embedding"] is None and media["img/b.svg"]["dims"] is None


async def test_retried_load_of_same_revision_does_not_duplicate(conn: asyncpg.Connection) -> None:
    data = sample(8)
    first = await load(conn, "site-retry", "r1", data, 8)
    second = await load(conn, "site-retry", "r1", data, 8, job_id="job-retry")
    assert first == second
    assert await revision_counts(conn, "site-retry", "r1") == first
    assert await conn.fetchval("SELECT job_id FROM revisions WHERE site_id = 'site-retry'") == (
        "job-retry"
    )


async def test_failed_load_leaves_previous_revision_current_and_intact(
    conn: asyncpg.Connection,
) -> None:
    site = "site-fail"
    await load(conn, site, "r1", sample(8), 8)
    before = await revision_counts(conn, site, "r1")

    posts, sections, media = sample(8, seed=1)

    def exploding() -> Iterator[SectionRow]:
        yield from sections[:3]
        raise RuntimeError("worker died mid-load")

    with pytest.raises(RuntimeError, match="worker died"):
        await load(conn, site, "r2", (posts, exploding(), media), 8)  # type: ignore[arg-type]

    assert await current_revision_id(conn, site) == "r1"
    assert await revision_counts(conn, site, "r1") == before
    assert await revision_counts(conn, site, "r2") == {"posts": 0, "sections": 0, "media": 0}
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM revisions WHERE site_id = $1 AND revision_id = 'r2'", site
        )
        == 0
    )

    # A bad row (wrong dimension) fails the same way, and the connection stays usable.
    bad = [*sections[:2], dataclasses.replace(sections[2], embedding=np.ones(5))]
    with pytest.raises(ValueError, match="5 dimensions, expected 8"):
        await load(conn, site, "r2", (posts, bad, media), 8)
    assert await current_revision_id(conn, site) == "r1"

    # The same revision then loads fine (a retry after the failure).
    counts = await load(conn, site, "r2", (posts, sections, media), 8)
    assert await current_revision_id(conn, site) == "r2"
    assert await revision_counts(conn, site, "r2") == counts
    assert await revision_counts(conn, site, "r1") == before  # older revisions stay


async def test_async_iterables_stream_into_copy(conn: asyncpg.Connection) -> None:
    posts, sections, media = sample(8)

    async def agen(items: list[object]) -> AsyncIterator[object]:
        for item in items:
            await asyncio.sleep(0)
            yield item

    load = RevisionLoad(
        site="site-async",
        revision_id="r1",
        job_id="j",
        posts=agen(posts),  # type: ignore[arg-type]
        sections=agen(sections),  # type: ignore[arg-type]
        media=(m for m in media),
        provider="test",
        model="random",
        dimensions=8,
    )
    assert (await load_revision(conn, load)).counts == {"posts": 3, "sections": 6, "media": 2}


async def test_sync_iterables_let_the_event_loop_run_during_copy(
    conn: asyncpg.Connection,
) -> None:
    # A heartbeat must still get through while a large sync generator feeds COPY.
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    posts = [make_post(f"posts/{i}", f"P{i}", ["x"]) for i in range(1200)]
    seen: list[int] = []

    def rows() -> Iterator[SectionRow]:
        for i, row in enumerate(section_rows(posts, np.random.default_rng(0), 8)):
            if i in (0, 1199):
                seen.append(ticks)
            yield row

    task = asyncio.create_task(ticker())
    try:
        counts = await load(conn, "site-ticks", "r1", ([], rows(), []), 8)
    finally:
        done.set()
        await task
    assert counts["sections"] == 1200
    assert seen[1] > seen[0], "the event loop never ran while COPY consumed the generator"


async def test_nul_characters_do_not_fail_the_load(conn: asyncpg.Connection) -> None:
    post = make_post(
        "posts/nul", "Nul\x00 title", ["text with a \x00 nul"], front_matter={"k\x00": "v\x00"}
    )
    rows = section_rows([post], np.random.default_rng(0), None)
    counts = await load(conn, "site-nul", "r1", ([post], rows, []), 8)
    assert counts == {"posts": 1, "sections": 1, "media": 0}
    assert await conn.fetchval("SELECT title FROM posts WHERE site_id = 'site-nul'") == "Nul title"


def all_indexes(site: str, revision: str, d: int) -> list[str]:
    """The names of a revision's indexes, in the order they are built."""
    return [revision_index_name(t, site, revision, d) for t in ("sections", "media")] + [
        text_index_name(t, site, revision) for t in ("sections", "media")
    ]


async def revision_indexes(conn: asyncpg.Connection, site: str) -> dict[str, str]:
    """{index name: definition} of the indexes recorded for `site`'s revisions."""
    rows = await conn.fetch(
        """
        SELECT i.indexname, i.indexdef FROM revision_indexes AS v
        JOIN pg_indexes AS i ON i.indexname = v.index_name
        WHERE v.site_id = $1
        """,
        site,
    )
    return {r["indexname"]: r["indexdef"] for r in rows}


async def test_two_dimensions_coexist_with_their_own_indexes(conn: asyncpg.Connection) -> None:
    small = sample(8, seed=2)
    large = sample(384, seed=3)
    for site, data, d in (("site-d8", small, 8), ("site-d384", large, 384)):
        await load(conn, site, "r1", data, d)
        built = await build_revision_indexes(conn, site, "r1", d)
        assert built == all_indexes(site, "r1", d)
        indexes = await revision_indexes(conn, site)
        assert sorted(indexes) == sorted(built)
        for name, definition in indexes.items():
            assert f"(site_id = '{site}'::text) AND (revision_id = 'r1'::text)" in definition
            if "_hnsw_" in name:
                assert "hnsw" in definition and f"vector({d})" in definition
                assert f"(dims = {d})" in definition
            else:
                assert "gin (tsv)" in definition and "dims" not in definition

    for site, (_, sections, _), d in (("site-d8", small, 8), ("site-d384", large, 384)):
        target = sections[4]
        found = await search(conn, site, "nearest", target.embedding, mode="vector", limit=3)
        assert found[0]["sections"][0]["sectionId"] == target.section_id
        assert await conn.fetchval(
            "SELECT count(*) FROM sections WHERE site_id = $1 AND dims = $2", site, d
        ) == len(sections)

    # Building them again is a no-op; the dimension is checked.
    assert await build_revision_indexes(conn, "site-d384", "r1", 384) == []
    with pytest.raises(ValueError):
        await build_revision_indexes(conn, "site-d384", "r1", "384")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await build_revision_indexes(conn, "site-d384", "r1", True)


async def test_index_predicates_quote_any_site_and_revision(conn: asyncpg.Connection) -> None:
    # The API admits only safe ids; the library is also called directly (tests, the bench).
    site, revision = "o'brien; DROP TABLE posts; --", "r'1"
    await load(conn, site, revision, sample(24, seed=8), 24)
    built = await build_revision_indexes(conn, site, revision, 24)
    assert len(built) == 4
    for definition in (await revision_indexes(conn, site)).values():
        assert "(site_id = 'o''brien; DROP TABLE posts; --'::text)" in definition
        assert "(revision_id = 'r''1'::text)" in definition
    assert await conn.fetchval("SELECT to_regclass('posts')") is not None


async def test_an_index_left_invalid_by_a_failed_build_is_built_again(
    conn: asyncpg.Connection,
) -> None:
    site = "site-invalid"
    await load(conn, site, "r1", sample(24, seed=7), 24)
    built = await build_revision_indexes(conn, site, "r1", 24)
    sections = built[0]
    # What a CREATE INDEX CONCURRENTLY that died midway leaves behind.
    await conn.execute(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass", sections
    )
    assert await build_revision_indexes(conn, site, "r1", 24) == [sections]
    valid = await conn.fetchval(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = $1::regclass", sections
    )
    assert valid is True
    assert sorted(await revision_indexes(conn, site)) == sorted(built)


async def test_backfill_builds_only_what_stored_revisions_lack(
    conn: asyncpg.Connection,
) -> None:
    # Revisions loaded before an index kind existed, or whose build died, get theirs at the
    # next load; complete ones are left alone; a revision still loading gets none.
    site = "site-backfill"
    await load(conn, site, "r1", sample(24, seed=21), 24)
    await load(conn, site, "r2", sample(24, seed=22), 24)
    [hnsw, *_] = await build_revision_indexes(conn, site, "r2", 24)
    await conn.execute(f"DROP INDEX {hnsw}")
    built = await backfill_revision_indexes(conn)
    assert set(built) >= set(all_indexes(site, "r1", 24)) | {hnsw}
    assert not set(built) & (set(all_indexes(site, "r2", 24)) - {hnsw})
    assert set(await revision_indexes(conn, site)) == set(
        all_indexes(site, "r1", 24) + all_indexes(site, "r2", 24)
    )
    assert not {n for n in await backfill_revision_indexes(conn) if site in n}


async def test_two_loads_backfilling_one_old_revision_both_succeed(db_url: str) -> None:
    # Word counts are written with the load; a revision loaded before they existed gets
    # them from whichever load comes next, and two such loads at once must not collide:
    # the second writes while the first's rows are uncommitted, then sees them commit.
    conns = [await connect(db_url) for _ in range(2)]
    try:
        site = "site-terms-race"
        await load(conns[0], site, "r1", sample(8, seed=31), 8)
        count = "SELECT count(*) FROM revision_terms WHERE site_id = $1 AND revision_id = 'r1'"
        stored = await conns[0].fetchval(count, site)
        assert stored > 0
        await conns[0].execute("DELETE FROM revision_terms WHERE site_id = $1", site)

        async def second() -> None:
            async with conns[1].transaction():
                await store_revision_terms(conns[1], site, "r1")

        async with conns[0].transaction():
            await store_revision_terms(conns[0], site, "r1")
            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.3)  # the second insert now waits on the first's keys
            assert not waiting.done()
        await waiting
        assert await conns[0].fetchval(count, site) == stored
        assert await backfill_revision_terms(conns[0]) == []
    finally:
        for c in conns:
            await c.close()


async def test_concurrent_loads_and_index_builds_of_two_sites(db_url: str) -> None:
    conns = [await connect(db_url) for _ in range(2)]

    async def load_and_index(conn: asyncpg.Connection, site: str, seed: int) -> dict[str, int]:
        counts = await load(conn, site, "r1", sample(24, seed=seed), 24)
        await build_revision_indexes(conn, site, "r1", 24)
        return counts

    try:
        results = await asyncio.gather(
            load_and_index(conns[0], "site-race-a", 11),
            load_and_index(conns[1], "site-race-b", 12),
        )
        assert results[0] == results[1] == {"posts": 3, "sections": 6, "media": 2}
        for site in ("site-race-a", "site-race-b"):
            assert len(await revision_indexes(conns[0], site)) == 4
    finally:
        for c in conns:
            await c.close()


async def test_prune_revisions_keeps_current_and_newest(conn: asyncpg.Connection) -> None:
    site = "site-prune"
    for rev in ("r1", "r2", "r3", "r4"):
        await load(conn, site, rev, sample(8), 8)
        await build_revision_indexes(conn, site, rev, 8)
    assert len(await revision_indexes(conn, site)) == 16
    assert sorted(await prune_revisions(conn, site, keep=2)) == ["r1", "r2"]
    # The pruned revisions' indexes are gone with them; the kept ones' stay.
    kept = {name for r in ("r3", "r4") for name in all_indexes(site, r, 8)}
    assert set(await revision_indexes(conn, site)) == kept
    assert await conn.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1::text[])",
        [name for r in ("r1", "r2") for name in all_indexes(site, r, 8)],
    ) == 0
    assert await current_revision_id(conn, site) == "r4"
    assert (await revision_counts(conn, site, "r3"))["sections"] == 6
    assert (await revision_counts(conn, site, "r1"))["sections"] == 0
    assert await prune_revisions(conn, site, keep=2) == []
    assert await prune_revisions(conn, site, keep=1) == ["r3"]
    assert await revision_counts(conn, site, "r4") == {"posts": 3, "sections": 6, "media": 2}


# --- embedding cache --------------------------------------------------------------------------


async def test_embedding_cache_round_trip_and_conflicts(conn: asyncpg.Connection) -> None:
    rng = np.random.default_rng(6)
    a, b, c = (unit(rng, 8) for _ in range(3))
    await put_cached_embeddings(conn, "p", "m", 8, [("sha-a", a), ("sha-b", b), ("sha-a", a)])
    got = await get_cached_embeddings(conn, "p", "m", 8, ["sha-a", "sha-b", "sha-missing"])
    assert set(got) == {"sha-a", "sha-b"}
    assert got["sha-a"].dtype == np.float32 and np.allclose(got["sha-a"], a)

    # The first entry wins; new keys are still added.
    await put_cached_embeddings(conn, "p", "m", 8, [("sha-a", c), ("sha-c", c)])
    got = await get_cached_embeddings(conn, "p", "m", 8, ["sha-a", "sha-c"])
    assert np.allclose(got["sha-a"], a) and np.allclose(got["sha-c"], c)

    # Keyed by provider, model and dimensions too.
    assert await get_cached_embeddings(conn, "p", "other", 8, ["sha-a"]) == {}
    assert await get_cached_embeddings(conn, "p", "m", 16, ["sha-a"]) == {}
    with pytest.raises(ValueError, match="expected 8"):
        await put_cached_embeddings(conn, "p", "m", 8, [("sha-x", np.ones(4))])
    assert await get_cached_embeddings(conn, "p", "m", 8, []) == {}


async def test_embedding_cache_concurrent_overlapping_writers(db_url: str) -> None:
    rng = np.random.default_rng(7)
    items = [(f"sha-{i:04d}", unit(rng, 8)) for i in range(2000)]
    conns = [await connect(db_url) for _ in range(3)]
    try:

        async def writer(c: asyncpg.Connection, order: list[tuple[str, np.ndarray]]) -> None:
            async with c.transaction():
                await put_cached_embeddings(c, "conc", "m", 8, order)

        await asyncio.gather(
            writer(conns[0], items),
            writer(conns[1], items[::-1]),
            writer(conns[2], items[700:] + items[:700]),
        )
        got = await get_cached_embeddings(conns[0], "conc", "m", 8, [s for s, _ in items])
        assert len(got) == 2000
    finally:
        for c in conns:
            await c.close()


# --- search ---------------------------------------------------------------------------------


async def test_search_lexical_match_first_and_vector_only_match(conn: asyncpg.Connection) -> None:
    site = "site-search"
    rng = np.random.default_rng(8)
    texts = {
        "posts/garden": ("Garden", ["Growing tomatoes in pots.", "Compost and soil health."]),
        "posts/sea": ("Sea", ["Sailing across the bay.", "Knots every sailor should know."]),
        "posts/city": ("City", ["Trams and bicycles.", "Rooftop bars at night."]),
    }
    posts = [make_post(pid, title, body) for pid, (title, body) in texts.items()]
    rows = section_rows(posts, rng, 16)
    await load(conn, site, "r1", (posts, rows, []), 16)

    # Exact term, with a vector far from that section: the lexical match still ranks first.
    found = await search(conn, site, "compost", rows[4].embedding, limit=5)
    top, best = found[0], found[0]["sections"][0]
    assert top["postId"] == "posts/garden" and top["title"] == "Garden"
    assert best["sectionId"] == "posts/garden#s1"
    assert best["anchor"] == "s1" and best["heading"] == "Heading 1"
    assert "<mark>Compost</mark>" in best["snippetHtml"]
    assert best["scores"]["text"]["rank"] == 1
    assert top["score"] > found[1]["score"]

    # No lexical match at all: the nearest vector comes first.
    target = rows[2]  # posts/sea#, "Sailing across the bay."
    found = await search(conn, site, "zeppelin", target.embedding + 0.01, limit=3)
    best = found[0]["sections"][0]
    assert best["sectionId"] == target.section_id
    assert "text" not in best["scores"] and best["scores"]["vector"]["rank"] == 1
    assert best["snippet"] == "Sailing across the bay."
    assert len(found) == 3

    # Text only, and the page title is weighted in.
    assert {h["postId"] for h in await text_search(conn, site, "city")} == {"posts/city"}

    with pytest.raises(SiteNotFound):
        await text_search(conn, "no-such-site", "x")
    with pytest.raises(EmbeddingMismatch, match="16 dimensions"):
        await search(conn, site, "x", np.ones(8), mode="vector")


async def test_search_follows_the_current_revision(conn: asyncpg.Connection) -> None:
    site = "site-switch"
    old = [make_post("posts/a", "A", ["walrus facts"])]
    new = [make_post("posts/a", "A", ["penguin facts"])]
    rng = np.random.default_rng(9)
    await load(conn, site, "r1", (old, section_rows(old, rng, 8), []), 8)
    await load(conn, site, "r2", (new, section_rows(new, rng, 8), []), 8)
    assert await text_search(conn, site, "walrus") == []
    found = await text_search(conn, site, "penguin")
    assert [s["sectionId"] for h in found for s in h["sections"]] == ["posts/a#"]
    found = await search(conn, site, "penguin", np.ones(8, dtype=np.float32))
    assert found[0]["sections"][0]["sectionId"] == "posts/a#"


# --- the real corpus ------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def corpus_posts() -> list[Post]:
    """The jekyll-docs pages split at headings (outside code fences): enough for full text."""
    posts = []
    for path in sorted(JEKYLL.rglob("*.md")):
        doc = frontmatter.loads(path.read_text(encoding="utf-8"))
        rel = path.relative_to(JEKYLL).with_suffix("").as_posix()
        chunks: list[tuple[str, list[str]]] = [("", [])]
        fenced = False
        for line in doc.content.splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            match = None if fenced else _HEADING.match(line)
            if match:
                chunks.append((match.group(2), []))
            else:
                chunks[-1][1].append(line)
        sections = [
            Section(
                id=f"{rel}#{i}",
                post_id=rel,
                anchor=str(i),
                heading=heading,
                level=0 if i == 0 else 2,
                position=i,
                text="\n".join(lines).strip(),
            )
            for i, (heading, lines) in enumerate(chunks)
        ]
        title = str(doc.metadata.get("title") or Path(rel).name)
        posts.append(
            Post(id=rel, slug=Path(rel).name, path=f"{rel}.md", title=title, sections=sections)
        )
    return posts


async def test_real_corpus_loads_and_finds_the_permalinks_page(conn: asyncpg.Connection) -> None:
    posts = corpus_posts()
    assert len(posts) > 50
    rows = section_rows(posts, np.random.default_rng(10), 384)
    counts = await load(conn, "jekyll", "r1", (posts, rows, []), 384)
    assert counts == {"posts": len(posts), "sections": len(rows), "media": 0}

    found = await text_search(conn, "jekyll", "permalinks")
    assert found[0]["postId"] == "docs/_docs/permalinks"
    found = await text_search(conn, "jekyll", '"front matter defaults"')
    assert found[0]["postId"] == "docs/_docs/configuration/front-matter-defaults"


def test_parse_timestamp() -> None:
    assert parse_timestamp("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_timestamp("2016-03-23 10:00:00 +0100") == datetime.fromisoformat(
        "2016-03-23T10:00:00+01:00"
    )
    assert parse_timestamp("2024-03-01T00:00:00Z") == datetime(2024, 3, 1, tzinfo=UTC)
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None


async def test_a_huge_section_loads_and_its_start_is_searchable(conn: asyncpg.Connection) -> None:
    # About 1.4 MB of distinct words: an uncapped tsvector would exceed Postgres's 1 MB limit
    # and fail the whole revision's load.
    rng = np.random.default_rng(5)
    words = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 9)) for _ in range(140_000)]
    post = make_post("blobs/huge", "Huge", ["zebraword " + " ".join(words)])
    data = (
        [post],
        section_rows([post], rng, 8),
        [],
    )
    counts = await load(conn, "huge-site", "r1", data, 8)
    assert counts["sections"] == 1
    hits = await conn.fetchval(
        "SELECT count(*) FROM sections WHERE site_id = 'huge-site' "
        "AND tsv @@ plainto_tsquery('english', 'zebraword')"
    )
    assert hits == 1
