"""search.db: one SQLite file holding a revision's posts, media and search index, for readers
with no Postgres at hand (an edge function, a browser over HTTP range requests, a script).

Tables (format `pressroom.searchdb/1`, in `meta`):

- `posts`, `sections`, `media`: posts.json's posts (one column per field; lists and objects as
  JSON text), its section outline (one row per section) and media.json's images.
- `related`: posts.json's related posts, `(post_id, rank, related_post_id, similarity)`.
- `entries`: search.json's entries (sections and images, text cut as search.json cuts it).
- `entries_fts`: FTS5 over entries' title, heading and body, `rowid` = `entries.rowid`. It
  holds the text *pre-analysed* the way search.json's reader and Postgres' `english`
  configuration analyse it (lower-case words, PostgreSQL's stop words dropped, Snowball
  stems; `pressroom.search.file.Analyzer`), so a query analysed the same way ranks as it does
  on the other back ends. Contentless (`content=''`): the text is in `entries`.
  Rank with `bm25(entries_fts, 1.0, 0.4, 0.2)`: the A/B/C weights.
- `vec_sections`, `vec_images`: sqlite-vec `vec0` tables (float32, the revision's dimensions,
  `distance_metric=cosine`), `rowid` = `entries.rowid`. Absent when the task did not embed.
- `meta`: key -> JSON value: format, site, revision, embedding (provider, model, dimensions,
  version), the analyser and the weights.

Inputs are iterables consumed once, inserted as they come: memory stays flat however many
posts there are. The page size (PAGE_SIZE, set before the first table) suits HTTP range
reading; the file is VACUUMed (INTO a second file) and appears at its path only once complete
(written in a temporary folder beside it, then renamed).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pressroom.models import MediaItem, Post
from pressroom.publish.artifacts import SEARCH_TEXT_LIMIT, SearchEntry, trim_text
from pressroom.publish.exports import SEARCH_DB
from pressroom.search.file import FIELD_WEIGHTS, Analyzer
from pressroom.search.sqlite_driver import connect

__all__ = ["FORMAT", "PAGE_SIZE", "SEARCH_DB", "write_search_db"]

FORMAT = "pressroom.searchdb/1"
# sql.js-httpvfs recommends 1024: a reader fetches whole pages, so small pages keep a B-tree
# or FTS5 lookup to a few kilobytes; larger reads (a vec0 chunk) are sequential runs its
# read-ahead merges into growing ranges anyway. docs/search.md, "search.db".
PAGE_SIZE = 1024
ANALYZER = "pressroom-english/1"  # pressroom.search.file.Analyzer("english")
_BATCH = 500  # rows per executemany: bounded memory, few round trips

_POST_COLUMNS = tuple(name for name in Post.model_fields)
_MEDIA_COLUMNS = tuple(name for name in MediaItem.model_fields)
_ENTRY_COLUMNS = (
    "kind", "id", "post_id", "url", "anchor", "title", "heading", "text", "tags", "date",
    "updated", "authors", "summary", "published_url",
)  # fmt: skip


def _value(value: Any) -> Any:
    """A column value: scalars as they are, lists and objects as JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return int(value)
    return value


def _schema(dimensions: int | None) -> list[str]:
    def table(name: str, columns: Sequence[str], key: str) -> str:
        cols = ", ".join(f"{c} TEXT PRIMARY KEY" if c == key else c for c in columns)
        return f"CREATE TABLE {name} ({cols})"

    weights = FIELD_WEIGHTS
    statements = [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        table("posts", _POST_COLUMNS, "id"),
        "CREATE TABLE sections (id TEXT PRIMARY KEY, post_id TEXT NOT NULL, anchor TEXT, "
        "heading TEXT, level INTEGER, position INTEGER)",
        "CREATE INDEX sections_post ON sections (post_id, position)",
        table("media", _MEDIA_COLUMNS, "path"),
        "CREATE TABLE related (post_id TEXT NOT NULL, rank INTEGER NOT NULL, "
        "related_post_id TEXT NOT NULL, similarity REAL, PRIMARY KEY (post_id, rank))",
        "CREATE TABLE entries (rowid INTEGER PRIMARY KEY, "
        + ", ".join(f"{c} TEXT" for c in _ENTRY_COLUMNS)
        + ")",
        "CREATE INDEX entries_id ON entries (id)",
        "CREATE INDEX entries_post ON entries (post_id, kind)",
        # Columns in FIELD_WEIGHTS' order: bm25()'s weights are positional.
        f"CREATE VIRTUAL TABLE entries_fts USING fts5({', '.join(map(_fts_column, weights))}, "
        "content='', tokenize='unicode61 remove_diacritics 0')",
    ]
    if dimensions is not None:
        for name in ("vec_sections", "vec_images"):
            statements.append(
                f"CREATE VIRTUAL TABLE {name} USING vec0("
                f"embedding float[{int(dimensions)}] distance_metric=cosine)"
            )
    return statements


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - fixed names


def _fts_column(field: str) -> str:
    return "body" if field == "text" else field


def _batched(rows: Iterable[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _post_rows(posts: Iterable[Post], sections: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """posts rows; each post's outline rows are appended to `sections` (flushed by the caller
    per batch, so it never holds more than a batch of posts' sections)."""
    for post in posts:
        record = post.model_dump(mode="json")
        record["sections"] = [
            {k: s[k] for k in ("id", "anchor", "heading", "level", "position")}
            for s in record["sections"]
        ]
        for s in record["sections"]:
            sections.append(
                (s["id"], post.id, s["anchor"], s["heading"], s["level"], s["position"])
            )
        yield tuple(_value(record[c]) for c in _POST_COLUMNS)


def write_search_db(
    path: Path,
    *,
    posts: Iterable[Post],
    media: Iterable[MediaItem],
    entries: Iterable[SearchEntry],
    related: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    revision_id: str,
    site: str,
    embedding: Mapping[str, Any] | None,
    text_limit: int = SEARCH_TEXT_LIMIT,
    page_size: int = PAGE_SIZE,
) -> dict[str, int]:
    """Write search.db at `path`; returns row counts (posts, sections, media, entries, vectors).

    `entries` are search.json's (`pressroom.steps.artifacts.search_entries`); `embedding`
    is the revision's `{provider, model, dimensions, version}`, None when it has no vectors.
    """
    dimensions = int(embedding["dimensions"]) if embedding else None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Built in one temporary file, VACUUMed INTO another, renamed into place. VACUUM INTO
    # writes the copy straight to its file; a plain VACUUM copies through SQLite's temp store,
    # which some builds (pysqlite3-binary: SQLITE_TEMP_STORE=3) keep in memory, whole.
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp, vacuumed = work / "build.db", work / "search.db"
    counts = {"posts": 0, "sections": 0, "media": 0, "entries": 0, "vectors": 0, "related": 0}
    try:
        conn = connect(tmp)
        conn.isolation_level = None  # transactions as written below, none implied
        try:
            conn.execute(f"PRAGMA page_size = {int(page_size)}")
            conn.execute("PRAGMA journal_mode = DELETE")  # a single file; WAL keeps no page size
            conn.execute("BEGIN")
            for statement in _schema(dimensions):
                conn.execute(statement)
            meta = {
                "format": FORMAT,
                "site": site,
                "revision": revision_id,
                "embedding": (
                    {k: embedding.get(k) for k in ("provider", "model", "dimensions", "version")}
                    | {"normalized": True, "distance": "cosine"}
                    if embedding
                    else None
                ),
                "analyzer": ANALYZER,
                "weights": {_fts_column(f): w for f, w in FIELD_WEIGHTS.items()},
                "text_limit": text_limit,
            }
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [(k, json.dumps(v, ensure_ascii=False)) for k, v in meta.items()],
            )
            _insert_posts(conn, posts, counts)
            for batch in _batched(media):
                conn.executemany(
                    _insert_sql("media", _MEDIA_COLUMNS),
                    [
                        tuple(_value(m.model_dump(mode="json")[c]) for c in _MEDIA_COLUMNS)
                        for m in batch
                    ],
                )
                counts["media"] += len(batch)
            related_rows = (
                (post_id, rank, r["postId"], r.get("similarity"))
                for post_id, rows in (related or {}).items()
                for rank, r in enumerate(rows, 1)
            )
            for batch in _batched(related_rows):
                conn.executemany("INSERT INTO related VALUES (?, ?, ?, ?)", batch)
                counts["related"] += len(batch)
            _insert_entries(conn, entries, dimensions, text_limit, counts)
            conn.execute("COMMIT")
            # Optimize merges FTS5's segments into one b-tree: fewer pages per lookup.
            conn.execute("INSERT INTO entries_fts(entries_fts) VALUES ('optimize')")
            conn.execute("VACUUM INTO ?", [str(vacuumed)])  # keeps the page size
        finally:
            conn.close()
        vacuumed.chmod(0o644)  # public, like the JSON artifacts
        os.replace(vacuumed, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return counts


def _insert_posts(conn: Any, posts: Iterable[Post], counts: dict[str, int]) -> None:
    post_sql = _insert_sql("posts", _POST_COLUMNS)
    sections: list[tuple[Any, ...]] = []
    for batch in _batched(_post_rows(posts, sections), 100):
        conn.executemany(post_sql, batch)
        conn.executemany("INSERT INTO sections VALUES (?, ?, ?, ?, ?, ?)", sections)
        counts["posts"] += len(batch)
        counts["sections"] += len(sections)
        sections.clear()


def _insert_entries(
    conn: Any,
    entries: Iterable[SearchEntry],
    dimensions: int | None,
    text_limit: int,
    counts: dict[str, int],
) -> None:
    analyzer = Analyzer()
    entry_sql = _insert_sql("entries", ("rowid", *_ENTRY_COLUMNS))
    fts_sql = "INSERT INTO entries_fts (rowid, title, heading, body) VALUES (?, ?, ?, ?)"
    rowid = 0
    for batch in _batched(entries):
        rows, fts, vectors = [], [], {"section": [], "image": []}
        for entry in batch:
            rowid += 1
            text = trim_text(entry.text, text_limit)
            first = entry.post_fields
            rows.append(
                (
                    rowid, entry.kind, entry.id, entry.post_id, entry.url, entry.anchor,
                    entry.title, entry.heading, text, _value(list(entry.tags)), entry.date,
                    entry.updated if first else None,
                    _value(list(entry.authors)) if first else None,
                    entry.summary if first else None,
                    entry.published_url if entry.kind == "image" else None,
                )
            )  # fmt: skip
            fts.append(
                (rowid, *(_analysed(analyzer, v) for v in (entry.title, entry.heading, text)))
            )
            if entry.vector is not None:
                vectors[entry.kind].append((rowid, _vector_blob(entry, dimensions)))
        conn.executemany(entry_sql, rows)
        conn.executemany(fts_sql, fts)
        for kind, table in (("section", "vec_sections"), ("image", "vec_images")):
            if vectors[kind]:
                conn.executemany(_insert_sql(table, ("rowid", "embedding")), vectors[kind])
                counts["vectors"] += len(vectors[kind])
        counts["entries"] += len(rows)


def _analysed(analyzer: Analyzer, text: str) -> str:
    return " ".join(stem for stem in analyzer.tokens(text) if stem)


def _vector_blob(entry: SearchEntry, dimensions: int | None) -> bytes:
    if dimensions is None:
        raise ValueError(f"search entry {entry.id!r}: a vector, but no embedding declared")
    vector = np.asarray(entry.vector, dtype="<f4")
    if vector.shape != (dimensions,):
        raise ValueError(
            f"search entry {entry.id!r}: vector shape {vector.shape}, expected ({dimensions},)"
        )
    if not np.isfinite(vector).all():
        raise ValueError(f"search entry {entry.id!r}: vector is not finite")
    return vector.tobytes()
