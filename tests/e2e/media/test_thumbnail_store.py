"""The content-addressed thumbnail store and a revision's links to it, on real Postgres: shared
by sites and revisions, idempotent under retries, and migrated from the per-revision copies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from pressroom.content.thumbnails import THUMBNAIL_SPEC, Thumbnail
from pressroom.db.pool import connect
from pressroom.db.schema import migrate
from pressroom.db.thumbnails import (
    get_thumbnail,
    known_thumbnails,
    link_thumbnails,
    put_thumbnails,
)
from tests.fakes.databases import fresh_database


@pytest.fixture
async def conn(pg_url: str) -> AsyncIterator[asyncpg.Connection]:
    async with fresh_database(pg_url) as url:
        connection = await connect(url)
        yield connection
        await connection.close()


async def add_revision(
    conn: asyncpg.Connection, site: str, rev: str, media: dict[str, str]
) -> None:
    """A current revision of `site` whose media are {path: sha256}."""
    await conn.execute("INSERT INTO sites (site_id) VALUES ($1) ON CONFLICT DO NOTHING", site)
    await conn.execute(
        """INSERT INTO revisions (site_id, revision_id, job_id, state, embedding_provider,
                                  embedding_model, dimensions)
           VALUES ($1, $2, 'job', 'ready', 'hashing', 'hashing-v1', 8)""",
        site,
        rev,
    )
    for path, sha in media.items():
        mime = "image/svg+xml" if path.endswith(".svg") else "image/png"
        await conn.execute(
            """INSERT INTO media (site_id, revision_id, path, mime, bytes, sha256)
               VALUES ($1, $2, $3, $4, 10, $5)""",
            site,
            rev,
            path,
            mime,
            sha,
        )
    await conn.execute("UPDATE sites SET current_revision = $2 WHERE site_id = $1", site, rev)


async def links(conn: asyncpg.Connection, site: str, rev: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT path, image_sha256 FROM media_thumbnails"
        " WHERE site_id = $1 AND revision_id = $2 ORDER BY path",
        site,
        rev,
    )
    return [(r["path"], r["image_sha256"]) for r in rows]


async def test_one_preview_serves_every_site_and_path(conn: asyncpg.Connection) -> None:
    await put_thumbnails(
        conn,
        THUMBNAIL_SPEC,
        [Thumbnail("aaa", b"webp-a", 32, 16), Thumbnail("bad", None)],
    )
    assert await known_thumbnails(conn, THUMBNAIL_SPEC, ["aaa", "bad", "new"]) == {"aaa", "bad"}
    assert await known_thumbnails(conn, "another-spec", ["aaa"]) == set()

    await add_revision(conn, "one", "r1", {"a.png": "aaa", "again/a.png": "aaa", "x.png": "bad"})
    await add_revision(conn, "two", "r9", {"elsewhere.png": "aaa", "logo.svg": "aaa"})
    async with conn.transaction():
        assert await link_thumbnails(conn, "one", "r1", THUMBNAIL_SPEC) == 2
        assert await link_thumbnails(conn, "two", "r9", THUMBNAIL_SPEC) == 1
    # The unreadable image and the SVG get no link; two paths share one stored preview.
    assert await links(conn, "one", "r1") == [("a.png", "aaa"), ("again/a.png", "aaa")]
    assert await links(conn, "two", "r9") == [("elsewhere.png", "aaa")]
    assert await get_thumbnail(conn, "one", "again/a.png") == ("image/webp", b"webp-a", "r1")
    assert await get_thumbnail(conn, "two", "elsewhere.png") == ("image/webp", b"webp-a", "r9")
    assert await get_thumbnail(conn, "one", "x.png") is None
    assert await conn.fetchval("SELECT count(*) FROM image_thumbnails") == 2


async def test_retries_write_the_same_rows(conn: asyncpg.Connection) -> None:
    await add_revision(conn, "site", "r1", {"a.png": "aaa", "b.png": "bbb"})
    for _ in range(2):  # a retried load: the same previews, then the same links
        await put_thumbnails(
            conn, THUMBNAIL_SPEC, [Thumbnail("bbb", b"b", 1, 1), Thumbnail("aaa", b"a", 2, 2)]
        )
        async with conn.transaction():
            await link_thumbnails(conn, "site", "r1", THUMBNAIL_SPEC)
    assert await links(conn, "site", "r1") == [("a.png", "aaa"), ("b.png", "bbb")]
    rows = await conn.fetch("SELECT image_sha256, data FROM image_thumbnails ORDER BY 1")
    assert [(r["image_sha256"], bytes(r["data"])) for r in rows] == [("aaa", b"a"), ("bbb", b"b")]


async def test_an_existing_preview_wins(conn: asyncpg.Connection) -> None:
    await put_thumbnails(conn, THUMBNAIL_SPEC, [Thumbnail("aaa", b"first", 1, 1)])
    await put_thumbnails(conn, THUMBNAIL_SPEC, [Thumbnail("aaa", b"second", 1, 1)])
    data = await conn.fetchval("SELECT data FROM image_thumbnails WHERE image_sha256 = 'aaa'")
    assert bytes(data) == b"first"


async def test_per_revision_copies_move_into_the_store(conn: asyncpg.Connection) -> None:
    """A database from before issue 12 kept a copy of each preview per revision."""
    await add_revision(conn, "old", "r1", {"a.png": "aaa", "b.png": "aaa", "c.png": "ccc"})
    await conn.execute("DROP TABLE media_thumbnails")
    await conn.execute(
        """CREATE TABLE media_thumbnails (
               site_id text NOT NULL, revision_id text NOT NULL, path text NOT NULL,
               mime text NOT NULL, width integer NOT NULL, height integer NOT NULL,
               data bytea NOT NULL, PRIMARY KEY (site_id, revision_id, path))"""
    )
    await conn.executemany(
        "INSERT INTO media_thumbnails VALUES ('old', 'r1', $1, 'image/webp', 4, 3, $2)",
        [("a.png", b"pa"), ("b.png", b"pa"), ("c.png", b"pc"), ("gone.png", b"px")],
    )
    await migrate(conn, force=True)
    assert await links(conn, "old", "r1") == [
        ("a.png", "aaa"),
        ("b.png", "aaa"),
        ("c.png", "ccc"),
    ]
    assert await get_thumbnail(conn, "old", "b.png") == ("image/webp", b"pa", "r1")
    # Stored under the spec they were made with; the current spec makes its own.
    assert await known_thumbnails(conn, "webp-320-q75-m4", ["aaa", "ccc"]) == {"aaa", "ccc"}
    assert THUMBNAIL_SPEC != "webp-320-q75-m4"
    assert await known_thumbnails(conn, THUMBNAIL_SPEC, ["aaa", "ccc"]) == set()
    columns = await conn.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'media_thumbnails'::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    assert [c["attname"] for c in columns] == [
        "site_id",
        "revision_id",
        "path",
        "image_sha256",
        "spec",
    ]
    await migrate(conn, force=True)  # and again: nothing left to move
    assert await links(conn, "old", "r1") == [("a.png", "aaa"), ("b.png", "aaa"), ("c.png", "ccc")]
