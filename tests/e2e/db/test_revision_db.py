"""Revisions in Postgres and `latest.json`, below Temporal: ordering (the later request wins),
staged loads and the switch, per-kind changes, retention, the previous revision staying
queryable during a load, and the embedding cache key.

Runs against the session's real Postgres, in a database of this module's own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from pressroom.db.pool import connect, create_pool
from pressroom.db.revisions import (
    LoadOutcome,
    RevisionLoad,
    RevisionSuperseded,
    load_revision,
    prune_revisions,
    switch_current,
)
from pressroom.db.rows import MediaRow, SectionRow
from pressroom.db.sites import site_source
from pressroom.embeddings.cache import PostgresEmbeddingCache
from pressroom.embeddings.inputs import input_sha256, section_input
from pressroom.models import MediaItem, Post, Section
from pressroom.publish.latest import (
    RevisionOrder,
    latest_document,
    read_latest,
    write_latest_if_newer,
)
from pressroom.storage.local import LocalStore
from tests.fakes.databases import fresh_database
from tests.stored import current_revision_id, revision_counts, text_search

DIMS = 8
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def db_url(pg_url: str) -> AsyncIterator[str]:
    async with fresh_database(pg_url, "pressroom_rev") as url:
        yield url


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(db_url)
    yield connection
    await connection.close()


def site_id() -> str:
    return f"site-{uuid.uuid4().hex[:8]}"


def vec(seed: str) -> np.ndarray:
    rng = np.random.default_rng(int(input_sha256(seed)[:8], 16))
    v = rng.standard_normal(DIMS).astype(np.float32)
    return v / np.linalg.norm(v)


def post(post_id: str, texts: list[str], sha: str | None = None, title: str = "T") -> Post:
    sections = [
        Section(
            id=f"{post_id}#s{i}",
            post_id=post_id,
            anchor=f"s{i}",
            heading=f"H{i}",
            level=2,
            position=i,
            text=t,
        )
        for i, t in enumerate(texts)
    ]
    return Post(
        id=post_id,
        slug=post_id,
        path=f"{post_id}.md",
        title=title,
        sections=sections,
        content_sha256=sha or input_sha256("|".join(texts)),
    )


def rows(posts: list[Post]) -> list[SectionRow]:
    out = []
    for p in posts:
        for s in p.sections:
            text = section_input(p.title, s.heading, s.text)
            out.append(
                SectionRow.from_section(
                    s, post_title=p.title, embedding=vec(text), content_sha256=input_sha256(text)
                )
            )
    return out


def media(paths: Iterable[str]) -> list[MediaRow]:
    return [
        MediaRow.from_item(
            MediaItem(path=p, mime="image/png", bytes=1, sha256=input_sha256(p)), embedding=vec(p)
        )
        for p in paths
    ]


async def load(
    conn: asyncpg.Connection,
    site: str,
    revision: str,
    posts: list[Post],
    *,
    at: datetime,
    job: str | None = None,
    images: Iterable[str] = (),
    switch: bool = True,
    sections: object = None,
) -> LoadOutcome:
    return await load_revision(
        conn,
        RevisionLoad(
            site=site,
            revision_id=revision,
            job_id=job or f"job-{revision}",
            posts=posts,
            sections=sections if sections is not None else rows(posts),  # type: ignore[arg-type]
            media=media(images),
            provider="test",
            model="m",
            dimensions=DIMS,
            switch=switch,
            requested_at=at,
            repo_url=f"/src/{site}",
            dist_folder="dist",
        ),
    )


async def post_ids(conn: asyncpg.Connection, site: str, revision: str) -> set[str]:
    found = await conn.fetch(
        "SELECT post_id FROM posts WHERE site_id = $1 AND revision_id = $2", site, revision
    )
    return {r["post_id"] for r in found}


# --- ordering: the later request wins ------------------------------------------------------


async def test_an_older_request_never_replaces_a_newer_current_revision(
    conn: asyncpg.Connection,
) -> None:
    site = site_id()
    await load(conn, site, "new", [post("a", ["new text"])], at=T0 + timedelta(seconds=5))
    with pytest.raises(RevisionSuperseded) as info:
        await load(conn, site, "old", [post("a", ["old text"])], at=T0)
    assert info.value.current == "new"
    assert await current_revision_id(conn, site) == "new"
    # Nothing of the superseded load was written.
    assert await post_ids(conn, site, "old") == set()
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM revisions WHERE site_id = $1 AND revision_id = 'old'", site
        )
        == 0
    )
    # A later request does replace it; ties on time are broken by job id.
    await load(conn, site, "newer", [post("a", ["x"])], at=T0 + timedelta(seconds=5), job="job-z")
    assert await current_revision_id(conn, site) == "newer"
    with pytest.raises(RevisionSuperseded):
        await load(conn, site, "tie", [post("a", ["y"])], at=T0 + timedelta(seconds=5), job="job-a")


async def test_a_retried_load_of_the_current_revision_by_the_same_job_succeeds(
    conn: asyncpg.Connection,
) -> None:
    site = site_id()
    first = await load(conn, site, "r1", [post("a", ["one"]), post("b", ["two"])], at=T0)
    again = await load(conn, site, "r1", [post("a", ["one"]), post("b", ["two"])], at=T0)
    assert again.counts == first.counts
    assert again.previous_revision == "r1"
    assert await revision_counts(conn, site, "r1") == first.counts


async def test_staged_revision_switches_later_and_only_forward(conn: asyncpg.Connection) -> None:
    site = site_id()
    await load(conn, site, "r1", [post("a", ["one"])], at=T0)
    staged = await load(conn, site, "r2", [post("b", ["two"])], at=T0 + timedelta(1), switch=False)
    assert staged.switched is False and staged.previous_revision == "r1"
    assert await current_revision_id(conn, site) == "r1"  # loaded, ready, not current
    assert await post_ids(conn, site, "r2") == {"b"}
    # A job requested between r1 and r2, staged too, cannot switch once r2 is current...
    await load(conn, site, "mid", [post("c", ["3"])], at=T0 + timedelta(hours=1), switch=False)
    async with conn.transaction():
        previous = await switch_current(
            conn, site, "r2", RevisionOrder.of(T0 + timedelta(1), "job-r2")
        )
    assert previous == "r1" and await current_revision_id(conn, site) == "r2"
    with pytest.raises(RevisionSuperseded):
        async with conn.transaction():
            await switch_current(conn, site, "mid", RevisionOrder.of(T0, "job-mid"))
    assert await current_revision_id(conn, site) == "r2"
    # ...and a revision that was never loaded cannot become current.
    with pytest.raises(LookupError):
        async with conn.transaction():
            await switch_current(conn, site, "ghost", RevisionOrder.of(T0 + timedelta(9), "j"))


# --- changes against the previous revision, and deletions -----------------------------------


async def test_changes_are_counted_per_kind_and_deleted_rows_are_gone(
    conn: asyncpg.Connection,
) -> None:
    site = site_id()
    v1 = [post("keep", ["same"]), post("edit", ["before", "stays"]), post("gone", ["bye"])]
    first = await load(conn, site, "r1", v1, at=T0, images=["a.png", "b.png"])
    assert first.previous_revision is None
    assert first.changes["postsAdded"] == 3 and first.changes["sectionsAdded"] == 4
    v2 = [
        post("keep", ["same"]),
        post("edit", ["after", "stays"]),
        post("new", ["hello"]),
    ]
    second = await load(conn, site, "r2", v2, at=T0 + timedelta(1), images=["a.png", "c.png"])
    assert second.previous_revision == "r1"
    assert second.changes == {
        "postsAdded": 1,
        "postsChanged": 1,
        "postsUnchanged": 1,
        "postsRemoved": 1,
        "sectionsAdded": 1,
        "sectionsChanged": 1,
        "sectionsUnchanged": 2,
        "sectionsRemoved": 1,
        "mediaAdded": 1,
        "mediaChanged": 0,
        "mediaUnchanged": 1,
        "mediaRemoved": 1,
    }
    assert await post_ids(conn, site, "r2") == {"keep", "edit", "new"}
    sections = await conn.fetch(
        "SELECT post_id FROM sections WHERE site_id = $1 AND revision_id = 'r2'", site
    )
    assert {r["post_id"] for r in sections} == {"keep", "edit", "new"}
    paths = await conn.fetch(
        "SELECT path FROM media WHERE site_id = $1 AND revision_id = 'r2'", site
    )
    assert {r["path"] for r in paths} == {"a.png", "c.png"}
    # The previous revision keeps its rows (retention prunes it later, not the load).
    assert await post_ids(conn, site, "r1") == {"keep", "edit", "gone"}


# --- the previous revision stays queryable until the new one commits ------------------------


async def test_previous_revision_is_served_while_the_next_one_loads(
    conn: asyncpg.Connection, db_url: str
) -> None:
    site = site_id()
    old = [post("a", ["walrus colonies on the ice"])]
    await load(conn, site, "r1", old, at=T0)
    new = [post("a", ["penguin colonies on the ice"])]
    half_copied = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_sections() -> AsyncIterator[SectionRow]:
        for row in rows(new):
            yield row
            half_copied.set()
            await go_on.wait()

    loading = asyncio.create_task(
        load(conn, site, "r2", new, at=T0 + timedelta(1), sections=slow_sections())
    )
    reader = await connect(db_url)
    try:
        await asyncio.wait_for(half_copied.wait(), 30)
        assert await current_revision_id(reader, site) == "r1"
        hits = await text_search(reader, site, "walrus")
        assert [h["postId"] for h in hits] == ["a"]
        assert await text_search(reader, site, "penguin") == []
        assert await post_ids(reader, site, "r2") == set()  # uncommitted rows are invisible
        go_on.set()
        await asyncio.wait_for(loading, 30)
        assert await current_revision_id(reader, site) == "r2"
        hits = await text_search(reader, site, "penguin")
        assert [h["postId"] for h in hits] == ["a"]
    finally:
        go_on.set()
        await reader.close()


# --- retention ------------------------------------------------------------------------------


async def test_prune_keeps_n_by_request_order_never_current_or_newer(
    conn: asyncpg.Connection,
) -> None:
    site = site_id()
    for i in range(5):
        await load(conn, site, f"r{i}", [post("a", [f"v{i}"])], at=T0 + timedelta(minutes=i))
    # A later job's revision, loaded but not yet switched, is newer than current.
    await load(conn, site, "staged", [post("a", ["s"])], at=T0 + timedelta(hours=1), switch=False)
    assert sorted(await prune_revisions(conn, site, keep=3)) == ["r0", "r1"]
    kept = {
        r["revision_id"]
        for r in await conn.fetch("SELECT revision_id FROM revisions WHERE site_id = $1", site)
    }
    assert kept == {"r2", "r3", "r4", "staged"}
    assert await current_revision_id(conn, site) == "r4"
    assert await prune_revisions(conn, site, keep=1) == ["r3", "r2"]
    assert await post_ids(conn, site, "r4") == {"a"}
    assert await post_ids(conn, site, "staged") == {"a"}
    assert await post_ids(conn, site, "r2") == set()
    # No current revision at all: nothing is pruned (everything may be about to switch).
    empty = site_id()
    await load(conn, empty, "x1", [post("a", ["1"])], at=T0, switch=False)
    await load(conn, empty, "x2", [post("a", ["2"])], at=T0 + timedelta(1), switch=False)
    assert await prune_revisions(conn, empty, keep=1) == []


async def test_site_source_is_recorded_with_the_current_revision(conn: asyncpg.Connection) -> None:
    site = site_id()
    assert await site_source(conn, site) is None
    await load(conn, site, "r1", [post("a", ["1"])], at=T0)
    assert await site_source(conn, site) == (f"/src/{site}", "dist")


# --- latest.json only moves forward ---------------------------------------------------------


async def test_latest_json_is_never_moved_to_an_older_job(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path)
    key = "dist/latest.json"
    # A pointer written before ordering existed (no requestedAt) is older than any job.
    await store.put_bytes(key, json.dumps({"revision": "legacy"}).encode())
    newer = RevisionOrder.of(T0 + timedelta(1), "job-b")
    older = RevisionOrder.of(T0, "job-a")

    def doc(rev: str, order: RevisionOrder) -> dict[str, object]:
        return latest_document(site="s", revision_id=rev, published_at="now", order=order)

    async with conn.transaction():
        assert await write_latest_if_newer(conn, store, key, doc("b", newer), newer)
    async with conn.transaction():
        assert not await write_latest_if_newer(conn, store, key, doc("a", older), older)
    latest = await read_latest(store, key)
    assert latest is not None and latest["revision"] == "b" and latest["jobId"] == "job-b"
    # The same job again (a retried step) rewrites.
    async with conn.transaction():
        assert await write_latest_if_newer(conn, store, key, doc("b2", newer), newer)
    assert (await read_latest(store, key) or {})["revision"] == "b2"


# --- the embedding cache key ----------------------------------------------------------------


async def test_cache_misses_on_model_dimensions_version_and_template(db_url: str) -> None:
    pool = await create_pool(db_url, min_size=1, max_size=2)
    try:
        provider = f"p-{uuid.uuid4().hex[:6]}"
        base = PostgresEmbeddingCache(pool, provider, "model-a", "1", DIMS)
        text = section_input("Title", "Heading", "Body text.")
        sha = input_sha256(text)
        await base.put([(sha, vec("x"))])
        assert set(await base.get([sha])) == {sha}
        for other in (
            PostgresEmbeddingCache(pool, "other-provider", "model-a", "1", DIMS),
            PostgresEmbeddingCache(pool, provider, "model-b", "1", DIMS),
            PostgresEmbeddingCache(pool, provider, "model-a", "2", DIMS),
            PostgresEmbeddingCache(pool, provider, "model-a", "1", 16),
        ):
            assert await other.get([sha]) == {}, vars(other)
        # The input template is part of the hashed input: any change to it is a new key.
        assert input_sha256(section_input("Title", "", "Heading\n\nBody text.")) != sha
        assert input_sha256(section_input("Title", "Heading", "Body  text. ")) == sha
        # A forced refresh reads nothing and replaces what it recomputes.
        refresh = PostgresEmbeddingCache(pool, provider, "model-a", "1", DIMS, refresh=True)
        assert await refresh.get([sha]) == {}
        await refresh.put([(sha, vec("y"))])
        assert np.allclose((await base.get([sha]))[sha], vec("y"))
    finally:
        await pool.close()
