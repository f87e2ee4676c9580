"""The posts table's url, aliases and summary columns: added to a database made before them
(schema.sql's `ADD COLUMN IF NOT EXISTS`), where the rows already there keep no URL and no
summary, and the next load stores them."""

from __future__ import annotations

import asyncpg

from pressroom.db.pool import connect
from pressroom.db.posts import read_post
from pressroom.db.schema import migrate
from tests.fakes.databases import fresh_database
from tests.fakes.revision_rows import load, post

NEW_COLUMNS = {"url", "aliases", "summary"}


async def _columns(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'posts'"
    )
    return {r["column_name"] for r in rows}


async def test_an_existing_database_gets_the_columns_and_keeps_its_rows(pg_url: str) -> None:
    async with fresh_database(pg_url, "pressroom_columns") as url:
        conn = await connect(url)
        try:
            # The database as an earlier Pressroom left it: posts without the columns, one
            # revision loaded, its schema version recorded.
            await conn.execute(
                "ALTER TABLE posts DROP COLUMN url, DROP COLUMN aliases, DROP COLUMN summary"
            )
            await conn.execute(
                "INSERT INTO sites (site_id) VALUES ('old');"
                "INSERT INTO revisions (site_id, revision_id, job_id, state, embedding_provider,"
                " embedding_model, dimensions) VALUES ('old', 'r-old', 'j', 'ready', 'hashing',"
                " 'hashing-v1', 384);"
                "INSERT INTO posts (site_id, revision_id, post_id, slug, path, title, date)"
                " VALUES ('old', 'r-old', 'a', 'a', 'a.md', 'Old post', '2020-01-02');"
                "UPDATE schema_migrations SET sha256 = 'an-earlier-schema'"
            )
            assert not NEW_COLUMNS & await _columns(conn)

            await migrate(conn)
            assert NEW_COLUMNS <= await _columns(conn)
            old = await read_post(conn, "old", "r-old", "a")
            assert old is not None
            assert (old["url"], old["aliases"], old["summary"]) == (None, [], "")
            assert old["date"] == "2020-01-02T00:00:00+00:00"

            made = post(
                "notes/a", "New post", [("", "Barometer text."), ("More", "More text.")],
                url="/notes/a/", aliases=["/a/"], summary="New.", authors=["Ada"],
                updated="2024-06-01",
            )  # fmt: skip
            await load(conn, "new", "r-new", [made])
            new = await read_post(conn, "new", "r-new", "notes/a")
            assert new is not None
            assert (new["url"], new["aliases"], new["summary"]) == ("/notes/a/", ["/a/"], "New.")
            assert new["authors"] == ["Ada"]
            assert new["updated"] == "2024-06-01T00:00:00+00:00"
        finally:
            await conn.close()
