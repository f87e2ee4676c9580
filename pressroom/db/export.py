"""export.sql: one loaded revision as a script for a plain Postgres with pgvector (Neon, RDS,
Supabase, a laptop), run with `psql -f export.sql` (or `gunzip -c export.sql.gz | psql`).

What the script holds, in one transaction:
- Pressroom's own schema (schema.sql, `CREATE EXTENSION IF NOT EXISTS vector` first): every
  statement of it is idempotent, so an empty database gets it and a Pressroom database keeps it;
- the revision's rows, each table as a `COPY ... FROM stdin` block in text format, read from
  the source database with `COPY (SELECT ...) TO STDOUT` and written as they arrive (memory
  stays bounded by asyncpg's buffer, whatever the revision's size): `revisions` (its
  `repo_url` redacted), `posts`, `sections`, `media`, `media_thumbnails`, `related_posts`,
  `revision_terms`, and the previews the revision links (`image_thumbnails`, shared by
  content, so merged with ON CONFLICT DO NOTHING);
- the revision's own HNSW and GIN indexes (pressroom/db/revision_indexes.py), then the site's
  `current_revision` pointing at it, so Pressroom's Searcher (or the SQL in docs/search.md)
  pointed at the database answers /search as the source does.

Idempotent: before its COPY blocks the script deletes that revision's rows, so loading it again
replaces them (same counts, no duplicates); other sites and revisions are left alone. Generated
columns (`tsv`) are not exported: the target computes them from the same text.

Above GZIP_ABOVE_BYTES the script is gzip-compressed (`export.sql.gz`), streamed from the plain
file (mtime 0, no name inside: the same rows give the same bytes).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg

from pressroom.db.revision_indexes import revision_index_statements
from pressroom.db.schema import schema_sql
from pressroom.security.redact import redact_url

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_SQL",
    "EXPORT_SQL_GZ",
    "GZIP_ABOVE_BYTES",
    "ExportResult",
    "write_export_sql",
]

EXPORT_FORMAT = "pressroom.export-sql/1"
EXPORT_SQL = "export.sql"
EXPORT_SQL_GZ = "export.sql.gz"
# Larger scripts are published gzip-compressed: a 10,000-post revision's vectors as text run
# to hundreds of MB, which compress about 3:1; a small site's stays readable as it is.
GZIP_ABOVE_BYTES = 32 * 1024 * 1024

# The revision's tables, each read with its key order so the same rows give the same bytes.
# (table, ORDER BY), all filtered on (site_id, revision_id).
_REVISION_TABLES = (
    ("posts", "post_id"),
    ("sections", "section_id"),
    ("media", "path"),
    ("media_thumbnails", "path"),
    ("related_posts", "post_id, rank"),
    ("revision_terms", "lexeme"),
)

_COLUMNS_SQL = """
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
    ORDER BY ordinal_position
"""


@dataclass(frozen=True)
class ExportResult:
    """The written file (export.sql or export.sql.gz) and the rows it holds per table."""

    path: Path
    rows: dict[str, int]


def _literal(value: str) -> str:
    # The script sets standard_conforming_strings on: only quotes need doubling.
    if "\0" in value:
        raise ValueError("NUL in a value")
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    names = [r["column_name"] for r in await conn.fetch(_COLUMNS_SQL, table)]
    if not names:
        raise RuntimeError(f"table {table} not found: is the schema migrated?")
    return names


class _Script:
    """The script being written: text statements and COPY blocks streamed from the source."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.rows: dict[str, int] = {}

    def text(self, sql: str) -> None:
        self.out.write(sql.encode("utf-8"))

    async def _sink(self, chunk: bytes) -> None:
        self.out.write(chunk)

    async def copy(
        self,
        conn: asyncpg.Connection,
        table: str,
        select: str,
        *args: object,
        into: str | None = None,
    ) -> None:
        """One `COPY into (columns) FROM stdin` block with the rows of `select` (which must
        list `table`'s columns in order: `{cols}` is replaced by them)."""
        columns = await _columns(conn, table)
        cols = ", ".join(_ident(c) for c in columns)
        self.text(f"COPY {into or table} ({cols}) FROM stdin;\n")
        status = await conn.copy_from_query(
            select.format(cols=cols), *args, output=self._sink, format="text"
        )
        self.text("\\.\n\n")
        self.rows[table] = int(status.split()[-1])


def _header(site: str, revision_id: str) -> str:
    return f"""-- Pressroom export ({EXPORT_FORMAT}): site {site!r}, revision {revision_id!r}.
-- Load into a Postgres with pgvector: psql -v ON_ERROR_STOP=1 -f export.sql "$DATABASE_URL"
-- (or gunzip -c export.sql.gz | psql ...). One transaction; loading it again replaces the
-- revision's rows. See docs/search.md, "export.sql: the revision in your own Postgres".
\\set ON_ERROR_STOP on
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET client_min_messages = warning;
BEGIN;

"""


def _replace_rows(site: str, revision_id: str) -> str:
    """Make room for the revision: the site row if new, none of the revision's old rows."""
    s, r = _literal(site), _literal(revision_id)
    where = f"WHERE site_id = {s} AND revision_id = {r}"
    tables = [t for t, _ in reversed(_REVISION_TABLES)]
    deletes = "".join(f"DELETE FROM {t} {where};\n" for t in tables)  # noqa: S608 - quoted
    return (
        f"INSERT INTO sites (site_id) VALUES ({s}) ON CONFLICT (site_id) DO NOTHING;\n"  # noqa: S608 - literals quoted
        # The pointer's foreign key would refuse deleting the current revision's row.
        f"UPDATE sites SET current_revision = NULL WHERE site_id = {s} "
        f"AND current_revision = {r};\n"
        f"{deletes}DELETE FROM revisions {where};\n\n"
    )


def _indexes_and_switch(site: str, revision_id: str, dims: int) -> str:
    s, r = _literal(site), _literal(revision_id)
    lines = ["-- The revision's own search indexes, then the site's current revision.\n"]
    lines.append("SET LOCAL maintenance_work_mem = '256MB';\n")
    for name, table, create in revision_index_statements(site, revision_id, dims):
        lines.append(f"{create};\n")
        lines.append(
            "INSERT INTO revision_indexes (index_name, table_name, site_id, revision_id, dims) "  # noqa: S608 - literals quoted
            f"VALUES ({_literal(name)}, {_literal(table)}, {s}, {r}, {dims}) "
            "ON CONFLICT (index_name) DO NOTHING;\n"
        )
    lines.append(
        f"UPDATE sites SET current_revision = {r}, updated_at = now() WHERE site_id = {s};\n"  # noqa: S608 - literals quoted
    )
    lines.append("ANALYZE sites, revisions, posts, sections, media, revision_terms;\n")
    return "".join(lines)


async def _write(
    conn: asyncpg.Connection, site: str, revision_id: str, out: IO[bytes]
) -> dict[str, int]:
    revision = await conn.fetchrow(
        "SELECT dimensions, repo_url, state FROM revisions WHERE site_id = $1 AND revision_id = $2",
        site,
        revision_id,
    )
    if revision is None or revision["state"] != "ready":
        raise LookupError(f"site {site!r} has no loaded revision {revision_id!r}")
    script = _Script(out)
    script.text(_header(site, revision_id))
    schema = schema_sql()
    script.text(f"-- Pressroom's schema (pressroom/db/schema.sql), idempotent.\n{schema}\n")
    digest = hashlib.sha256(schema.encode("utf-8")).hexdigest()
    script.text(
        f"INSERT INTO schema_migrations (sha256) VALUES ({_literal(digest)}) "  # noqa: S608 - a hex digest
        "ON CONFLICT DO NOTHING;\n\n"
    )
    script.text(_replace_rows(site, revision_id))
    repo_url = revision["repo_url"]
    # The one row whose value is not exported as stored: a source URL may carry credentials.
    columns = await _columns(conn, "revisions")
    select = ", ".join("$3::text" if c == "repo_url" else _ident(c) for c in columns)
    await script.copy(
        conn,
        "revisions",
        f"SELECT {select} FROM revisions WHERE site_id = $1 AND revision_id = $2",  # noqa: S608 - catalog names
        site,
        revision_id,
        redact_url(repo_url) if repo_url else None,
    )
    for table, order in _REVISION_TABLES:
        await script.copy(
            conn,
            table,
            "SELECT {cols} FROM " + table + " WHERE site_id = $1 AND revision_id = $2 "  # noqa: S608 - fixed table names
            f"ORDER BY {order}",
            site,
            revision_id,
        )
    # Previews are shared by content across revisions and sites: merged, never replaced.
    script.text(
        "CREATE TEMP TABLE pressroom_export_thumbnails "
        "(LIKE image_thumbnails INCLUDING DEFAULTS) ON COMMIT DROP;\n"
    )
    await script.copy(
        conn,
        "image_thumbnails",
        "SELECT {cols} FROM image_thumbnails WHERE (image_sha256, spec) IN "
        "(SELECT image_sha256, spec FROM media_thumbnails WHERE site_id = $1 "
        "AND revision_id = $2) ORDER BY image_sha256, spec",
        site,
        revision_id,
        into="pressroom_export_thumbnails",
    )
    script.text(
        "INSERT INTO image_thumbnails SELECT * FROM pressroom_export_thumbnails "
        "ON CONFLICT DO NOTHING;\n\n"
    )
    script.text(_indexes_and_switch(site, revision_id, revision["dimensions"]))
    script.text("COMMIT;\n")
    return script.rows


def _gzip(plain: Path, packed: Path) -> None:
    with (
        plain.open("rb") as src,
        packed.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as dst,
    ):
        shutil.copyfileobj(src, dst, 1024 * 1024)


async def write_export_sql(
    conn: asyncpg.Connection,
    site: str,
    revision_id: str,
    directory: Path,
    *,
    gzip_above: int = GZIP_ABOVE_BYTES,
) -> ExportResult:
    """Write the loaded revision's export.sql into `directory` (export.sql.gz when it comes to
    more than `gzip_above` bytes); the file and its row counts per table.

    The rows are read in one repeatable-read snapshot, so a prune or another load running
    meanwhile cannot tear the export. LookupError when the revision is not loaded (ready)."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a local directory
    plain = directory / EXPORT_SQL
    # Buffered writes of asyncpg's chunks (local disk): the event loop never waits long.
    with plain.open("wb", buffering=1024 * 1024) as out:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await _write(conn, site, revision_id, out)
    if plain.stat().st_size <= gzip_above:
        return ExportResult(plain, rows)
    packed = directory / EXPORT_SQL_GZ
    await asyncio.to_thread(_gzip, plain, packed)
    os.unlink(plain)
    return ExportResult(packed, rows)
