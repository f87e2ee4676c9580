"""The Postgres layer: connections, the schema migration, loading a revision, the embedding
cache and a hybrid (full text + vector) section search.

Everything is plain asyncpg with pgvector's binary codec. Rows are bulk loaded with binary
COPY (`copy_records_to_table`), streamed from the caller's iterables. A revision is loaded in
one transaction and becomes the site's current revision only when the whole load commits.

Vector columns are untyped (`vector`), so the embedding dimension is a setting: HNSW indexes
are per-dimension expression partial indexes (`embedding::vector(d) ... WHERE dims = d`) and
every vector query repeats that expression and predicate so the planner can use them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import numpy as np
from pgvector import Vector
from pgvector.asyncpg import register_vector

from pressroom.db import related
from pressroom.models import MediaItem, Post, Section
from pressroom.publish.latest import RevisionOrder
from pressroom.publish.layout import PublishRefused

log = logging.getLogger(__name__)

T = TypeVar("T")

# One key for every schema change (migration, HNSW index builds): they serialise on it.
_SCHEMA_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('pressroom.schema'))"

# pgvector 0.6 cannot build an HNSW index on `vector` above 2000 dimensions; larger
# embeddings are still stored and searched, by exact scan.
HNSW_MAX_DIMENSIONS = 2000

# HNSW builds much faster when the graph fits in memory; only this transaction gets it.
_INDEX_BUILD_MEMORY = "256MB"

# pgvector filters *after* the HNSW scan, so a filtered query needs more candidates than
# the default 40 to still return `limit` rows of one site/revision.
_EF_SEARCH = 100

_VECTOR_TABLES = ("sections", "media")

# Rows between event-loop yields while streaming a sync iterable into COPY.
_YIELD_EVERY = 500


# --- row types ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SectionRow:
    """One section as stored: the section, its post's title (weighted in full text) and its
    embedding (float32, the revision's dimension) or None when it has none."""

    section_id: str
    post_id: str
    post_title: str
    anchor: str
    heading: str
    level: int
    position: int
    content: str
    content_sha256: str
    embedding: np.ndarray | None = None
    lang: str = "english"  # text-search configuration (pressroom.search.ts_config_for)

    @classmethod
    def from_section(
        cls,
        section: Section,
        *,
        post_title: str,
        embedding: np.ndarray | None = None,
        content_sha256: str | None = None,
        lang: str = "english",
    ) -> SectionRow:
        """Build a row from a parsed section; `content_sha256` defaults to the text's hash."""
        if content_sha256 is None:
            content_sha256 = hashlib.sha256(section.text.encode("utf-8")).hexdigest()
        return cls(
            section_id=section.id,
            post_id=section.post_id,
            post_title=post_title,
            anchor=section.anchor,
            heading=section.heading,
            level=section.level,
            position=section.position,
            content=section.text,
            content_sha256=content_sha256,
            embedding=embedding,
            lang=lang,
        )


@dataclass(frozen=True, slots=True)
class MediaRow:
    """One image as stored: the MediaItem fields, who references it and its embedding."""

    path: str
    mime: str
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None
    alt_texts: list[str] = field(default_factory=list)
    post_ids: list[str] = field(default_factory=list)
    description: str = ""
    embedding: np.ndarray | None = None

    @classmethod
    def from_item(cls, item: MediaItem, *, embedding: np.ndarray | None = None) -> MediaRow:
        """Build a row from a MediaItem: distinct non-empty alt texts and referencing posts."""
        alts = list(dict.fromkeys(r.alt for r in item.referenced_by if r.alt))
        post_ids = list(dict.fromkeys(r.post_id for r in item.referenced_by))
        return cls(
            path=item.path,
            mime=item.mime,
            bytes=item.bytes,
            sha256=item.sha256,
            width=item.width,
            height=item.height,
            alt_texts=alts,
            post_ids=post_ids,
            description=item.description,
            embedding=embedding,
        )


# --- connections and migration -----------------------------------------------------------


async def connect(url: str, *, run_migrations: bool = True, **kw: Any) -> asyncpg.Connection:
    """Open a connection with the pgvector codec registered.

    The codec needs the `vector` type to exist, so the migration (which creates the
    extension) runs first unless `run_migrations=False` (then the schema must exist).
    """
    conn = await asyncpg.connect(url, **kw)
    try:
        if run_migrations:
            await migrate(conn)
        await register_vector(conn)
    except BaseException:
        await conn.close()
        raise
    return conn


async def create_pool(url: str, *, run_migrations: bool = True, **kw: Any) -> asyncpg.Pool:
    """Create a pool whose connections all have the pgvector codec registered.

    Migrates once on a plain connection before the pool opens (see `connect`). A caller's
    own `init` callback still runs, after the codec is registered.
    """
    if run_migrations:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
    user_init = kw.pop("init", None)

    async def init(conn: asyncpg.Connection) -> None:
        await register_vector(conn)
        if user_init is not None:
            await user_init(conn)

    return await asyncpg.create_pool(url, init=init, **kw)


def schema_sql() -> str:
    """The migration script shipped with the package."""
    # Beside this module (package data); `pressroom` is a namespace package, which
    # importlib.resources cannot read through the editable-install finder.
    return Path(__file__).with_name("schema.sql").read_text(encoding="utf-8")


async def _schema_applied(conn: asyncpg.Connection, digest: str) -> bool:
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return False
    return bool(await conn.fetchval("SELECT 1 FROM schema_migrations WHERE sha256 = $1", digest))


async def migrate(conn: asyncpg.Connection, *, force: bool = False) -> None:
    """Apply schema.sql (idempotent) under an advisory lock.

    Skipped when this exact script was already applied (checked without any lock), because
    its CREATE INDEX IF NOT EXISTS still takes a SHARE lock on the tables and would wait
    for a running load. `force=True` re-runs it regardless.
    """
    sql = schema_sql()
    digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
    if not force and await _schema_applied(conn, digest):
        return
    async with conn.transaction():
        await conn.execute("SET LOCAL client_min_messages = warning")  # quiet "already exists"
        await conn.execute(_SCHEMA_LOCK_SQL)
        if not force and await _schema_applied(conn, digest):
            return  # another process applied it while we waited for the lock
        await conn.execute(sql)
        await conn.execute(
            "INSERT INTO schema_migrations (sha256) VALUES ($1) ON CONFLICT DO NOTHING", digest
        )


# --- vector indexes ----------------------------------------------------------------------


def _check_dims(dims: object) -> int:
    # The dimension is interpolated into DDL and queries: only a real positive int passes.
    if type(dims) is not int or not 0 < dims <= 16_000:
        raise ValueError(f"dimensions must be a positive int, got {dims!r}")
    return dims


def vector_index_name(table: str, dims: int) -> str:
    return f"{table}_embedding_hnsw_{_check_dims(dims)}"


async def _missing_vector_indexes(conn: asyncpg.Connection, dims: int) -> list[str]:
    """The tables that lack their HNSW index for `dims`."""
    if dims > HNSW_MAX_DIMENSIONS:
        return []
    names = [vector_index_name(t, dims) for t in _VECTOR_TABLES]
    rows = await conn.fetch(
        "SELECT n FROM unnest($1::text[]) AS n WHERE to_regclass(n) IS NULL", names
    )
    missing = {r["n"] for r in rows}
    return [t for t in _VECTOR_TABLES if vector_index_name(t, dims) in missing]


async def ensure_vector_indexes(conn: asyncpg.Connection, dims: int) -> list[str]:
    """Create the HNSW (cosine) indexes for `dims` on sections and media if missing.

    Returns the names of the indexes created. Existence is checked first because CREATE
    INDEX IF NOT EXISTS takes a SHARE lock on the table even when the index exists. Creation
    runs under the schema advisory lock; inside a load, take that lock before writing (as
    load_revision does) or two concurrent loads can deadlock on their table locks.
    """
    dims = _check_dims(dims)
    if dims > HNSW_MAX_DIMENSIONS:
        log.warning(
            "no HNSW index for %d dimensions (pgvector limit %d): exact scans",
            dims,
            HNSW_MAX_DIMENSIONS,
        )
        return []
    if not await _missing_vector_indexes(conn, dims):
        return []
    created: list[str] = []
    async with conn.transaction():
        await conn.execute(_SCHEMA_LOCK_SQL)
        await conn.execute(
            "SELECT set_config('maintenance_work_mem', $1, true)", _INDEX_BUILD_MEMORY
        )
        for table in await _missing_vector_indexes(conn, dims):
            name = vector_index_name(table, dims)
            # Identifiers come from _VECTOR_TABLES and a checked int: nothing user-supplied.
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw "
                f"((embedding::vector({dims})) vector_cosine_ops) WHERE dims = {dims}"
            )
            created.append(name)
    return created


# --- loading a revision ------------------------------------------------------------------

_POST_COLUMNS = tuple(
    (
        "site_id revision_id post_id slug path title date updated authors tags categories "
        "description excerpt draft word_count reading_time content_sha256 data"
    ).split()
)
_SECTION_COLUMNS = tuple(
    (
        "site_id revision_id section_id post_id post_title anchor heading level position "
        "content content_sha256 dims embedding lang"
    ).split()
)
_MEDIA_COLUMNS = tuple(
    (
        "site_id revision_id path mime bytes sha256 width height alt_texts post_ids "
        "description dims embedding"
    ).split()
)


def _text(value: str) -> str:
    # Postgres text cannot hold NUL; a stray one in a post must not fail the whole load.
    return value.replace("\x00", "") if "\x00" in value else value


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strip_nul(v) for v in value]
    return value


def _jsonb(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if "\\u0000" in text:  # jsonb rejects \u0000 too; rare, so only clean when needed
        text = json.dumps(_strip_nul(value), ensure_ascii=False, default=str)
    return text


def parse_timestamp(value: str | None) -> datetime | None:
    """ISO 8601 date or datetime -> aware datetime (UTC when no offset); None if unparseable.

    Also accepts Jekyll's `YYYY-MM-DD HH:MM:SS +0000` (a space before the offset).
    """
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, sep, tail = text.rpartition(" ")
    if sep and tail[:1] in "+-" and tail[1:].replace(":", "").isdigit():
        text = head + tail
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        log.debug("unparseable timestamp %r stored as NULL", value)
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _vector(embedding: np.ndarray | None, dims: int, what: str) -> Vector | None:
    if embedding is None:
        return None
    vec = Vector(np.asarray(embedding, dtype=np.float32))
    if vec.dimensions() != dims:
        raise ValueError(f"{what}: embedding has {vec.dimensions()} dimensions, expected {dims}")
    return vec


def _post_record(site: str, revision_id: str, p: Post) -> tuple[Any, ...]:
    data = {
        "links": [link.model_dump() for link in p.links],
        "images": [image.model_dump() for image in p.images],
        "front_matter": p.front_matter,
    }
    return (
        site,
        revision_id,
        p.id,
        _text(p.slug),
        _text(p.path),
        _text(p.title),
        parse_timestamp(p.date),
        parse_timestamp(p.updated),
        [_text(a) for a in p.authors],
        [_text(t) for t in p.tags],
        [_text(c) for c in p.categories],
        _text(p.description),
        _text(p.excerpt),
        p.draft,
        p.word_count,
        p.reading_time,
        p.content_sha256,
        _jsonb(data),
    )


def _section_record(site: str, revision_id: str, dims: int, s: SectionRow) -> tuple[Any, ...]:
    vec = _vector(s.embedding, dims, f"section {s.section_id}")
    return (
        site,
        revision_id,
        s.section_id,
        s.post_id,
        _text(s.post_title),
        _text(s.anchor),
        _text(s.heading),
        s.level,
        s.position,
        _text(s.content),
        s.content_sha256,
        None if vec is None else dims,
        vec,
        s.lang,
    )


def _media_record(site: str, revision_id: str, dims: int, m: MediaRow) -> tuple[Any, ...]:
    vec = _vector(m.embedding, dims, f"media {m.path}")
    return (
        site,
        revision_id,
        m.path,
        m.mime,
        m.bytes,
        m.sha256,
        m.width,
        m.height,
        [_text(a) for a in m.alt_texts],
        list(m.post_ids),
        _text(m.description),
        None if vec is None else dims,
        vec,
    )


async def _mapped(
    items: Iterable[T] | AsyncIterable[T], fn: Callable[[T], tuple[Any, ...]]
) -> AsyncIterator[tuple[Any, ...]]:
    """Lazily map rows to records, so COPY streams instead of buffering.

    asyncpg's COPY loop over a *sync* iterable never yields to the event loop, which would
    starve activity heartbeats during a large load: hand the loop back every few rows.
    """
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield fn(item)
        return
    for n, item in enumerate(items, 1):
        yield fn(item)
        if n % _YIELD_EVERY == 0:
            await asyncio.sleep(0)


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    records: AsyncIterator[tuple[Any, ...]],
) -> int:
    status = await conn.copy_records_to_table(table, records=records, columns=list(columns))
    return int(status.split()[-1])  # "COPY <n>"


class RevisionSuperseded(Exception):
    """The site's current revision came from a later request: this one must not replace it."""

    def __init__(self, site: str, revision_id: str, current: str, current_order: RevisionOrder):
        super().__init__(
            f"site {site}: revision {revision_id} is superseded by the current revision "
            f"{current}, requested later at {current_order.describe()}"
        )
        self.site = site
        self.revision_id = revision_id
        self.current = current
        self.current_order = current_order


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What `load_revision_outcome` did: row counts, the revision that was current when the
    load began, per-kind changes against it, and whether the current pointer moved."""

    counts: dict[str, int]
    previous_revision: str | None
    changes: dict[str, int]
    switched: bool


_CURRENT_SQL = """
    SELECT s.current_revision, r.requested_at, r.job_id
    FROM sites AS s
    LEFT JOIN revisions AS r ON r.site_id = s.site_id AND r.revision_id = s.current_revision
    WHERE s.site_id = $1
    FOR UPDATE OF s
"""


async def lock_site(
    conn: asyncpg.Connection, site: str, *, create: bool = True
) -> tuple[str | None, RevisionOrder]:
    """Lock the site's row until the caller's transaction ends (creating the site if new,
    unless `create` is false); returns its current revision and that revision's ordering key.

    Every switch of a site's current revision happens under this lock, so two jobs' switches
    never interleave; loads and switches of different sites run side by side.
    """
    if create:
        await conn.execute(
            "INSERT INTO sites (site_id) VALUES ($1) ON CONFLICT (site_id) DO NOTHING", site
        )
    row = await conn.fetchrow(_CURRENT_SQL, site)
    if row is None:
        return None, RevisionOrder.of(None, None)
    return row["current_revision"], RevisionOrder.of(row["requested_at"], row["job_id"])


# (table, key column, hash column) per kind, for `revision_changes`.
_CHANGE_KEYS = {
    "posts": ("posts", "post_id", "content_sha256"),
    "sections": ("sections", "section_id", "content_sha256"),
    "media": ("media", "path", "sha256"),
}


async def revision_changes(
    conn: asyncpg.Connection, site: str, base: str | None, new: str
) -> dict[str, int]:
    """Posts, sections and media of revision `new` against `base` (None: an empty site), as
    `{kind}Added/Changed/Unchanged/Removed` counts. Sections compare by their embedding
    input hash, so `sectionsChanged + sectionsAdded` is what had to be embedded anew."""
    out: dict[str, int] = {}
    for kind, (table, key, digest) in _CHANGE_KEYS.items():
        # Identifiers come from _CHANGE_KEYS only.
        row = await conn.fetchrow(
            f"""
            WITH n AS (SELECT {key} AS k, {digest} AS h FROM {table}
                       WHERE site_id = $1 AND revision_id = $3),
                 o AS (SELECT {key} AS k, {digest} AS h FROM {table}
                       WHERE site_id = $1 AND revision_id = $2)
            SELECT count(*) FILTER (WHERE o.k IS NULL) AS added,
                   count(*) FILTER (WHERE n.k IS NOT NULL AND o.k IS NOT NULL
                                    AND n.h IS DISTINCT FROM o.h) AS changed,
                   count(*) FILTER (WHERE n.k IS NOT NULL AND n.h = o.h) AS unchanged,
                   count(*) FILTER (WHERE n.k IS NULL) AS removed
            FROM n FULL JOIN o ON n.k = o.k
            """,  # noqa: S608 - fixed identifiers
            site,
            base,
            new,
        )
        for name in ("added", "changed", "unchanged", "removed"):
            out[f"{kind}{name.capitalize()}"] = int(row[name])
    return out


async def load_revision(
    conn: asyncpg.Connection,
    *,
    site: str,
    revision_id: str,
    job_id: str,
    posts: Iterable[Post] | AsyncIterable[Post],
    sections: Iterable[SectionRow] | AsyncIterable[SectionRow],
    media: Iterable[MediaRow] | AsyncIterable[MediaRow],
    provider: str,
    model: str,
    dimensions: int,
    **options: Any,
) -> dict[str, int]:
    """Load one revision of a site and make it current, all in one transaction.

    Rows left by an earlier committed attempt at the same revision are replaced, so a retry
    never duplicates. If anything fails (including the caller's iterables raising) nothing
    is written and the site's current revision is unchanged. Returns the row counts
    `{"posts", "sections", "media"}`. Every embedding must have `dimensions` dimensions.
    `options` are those of `load_revision_outcome`.
    """
    outcome = await load_revision_outcome(
        conn,
        site=site,
        revision_id=revision_id,
        job_id=job_id,
        posts=posts,
        sections=sections,
        media=media,
        provider=provider,
        model=model,
        dimensions=dimensions,
        **options,
    )
    return outcome.counts


async def load_revision_outcome(
    conn: asyncpg.Connection,
    *,
    site: str,
    revision_id: str,
    job_id: str,
    posts: Iterable[Post] | AsyncIterable[Post],
    sections: Iterable[SectionRow] | AsyncIterable[SectionRow],
    media: Iterable[MediaRow] | AsyncIterable[MediaRow],
    provider: str,
    model: str,
    dimensions: int,
    switch: bool = True,
    requested_at: datetime | None = None,
    repo_url: str | None = None,
    dist_folder: str | None = None,
    before_commit: Callable[[], Awaitable[None]] | None = None,
    output_key: str | None = None,
) -> LoadOutcome:
    """Load one revision of a site in one transaction, under the site's row lock.

    `requested_at` (default: the transaction's start) and `job_id` order the revision among
    the site's others; if the current revision was requested later, nothing is written and
    `RevisionSuperseded` is raised. With `switch` the revision becomes current when the load
    commits; without, it is stored ready but not current (`switch_current` flips it later,
    after the artifacts are published). `before_commit` runs last inside the transaction
    (fault injection: raising there rolls the whole load back).
    """
    dims = _check_dims(dimensions)
    async with conn.transaction():
        if await _missing_vector_indexes(conn, dims):
            # The index build at the end needs a SHARE lock on the tables; taking the schema
            # lock before our own writes keeps two first loads of a new dimension from
            # deadlocking on each other's ROW EXCLUSIVE locks.
            await conn.execute(_SCHEMA_LOCK_SQL)
        # Serialises loads of one site; loads of different sites run side by side.
        previous, current_order = await lock_site(conn, site)
        requested = requested_at or await conn.fetchval("SELECT now()")
        order = RevisionOrder.of(requested, job_id)
        if previous is not None and current_order > order:
            raise RevisionSuperseded(site, revision_id, previous, current_order)
        # Under the site lock: a revision id never gets rows of another output (the fetch
        # step refuses it early; this closes the race between two such jobs).
        loaded_key = await conn.fetchval(
            "SELECT output_key FROM revisions WHERE site_id = $1 AND revision_id = $2",
            site,
            revision_id,
        )
        if output_key and loaded_key and loaded_key != output_key:
            raise PublishRefused(
                f"revision {revision_id!r} of site {site!r} is already loaded from other "
                "content or settings: use a new revisionId"
            )
        await conn.execute(
            """
            INSERT INTO revisions (site_id, revision_id, job_id, state, embedding_provider,
                                   embedding_model, dimensions, requested_at, repo_url,
                                   dist_folder, output_key)
            VALUES ($1, $2, $3, 'loading', $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (site_id, revision_id) DO UPDATE
            SET job_id = EXCLUDED.job_id, state = 'loading', created_at = now(),
                committed_at = NULL, counts = '{}'::jsonb,
                embedding_provider = EXCLUDED.embedding_provider,
                embedding_model = EXCLUDED.embedding_model, dimensions = EXCLUDED.dimensions,
                requested_at = EXCLUDED.requested_at, repo_url = EXCLUDED.repo_url,
                dist_folder = EXCLUDED.dist_folder, output_key = EXCLUDED.output_key
            """,
            site,
            revision_id,
            job_id,
            provider,
            model,
            dims,
            order.requested_at,
            repo_url,
            dist_folder,
            output_key,
        )
        for table in ("posts", "sections", "media"):
            await conn.execute(
                f"DELETE FROM {table} WHERE site_id = $1 AND revision_id = $2",  # noqa: S608 - fixed table names
                site,
                revision_id,
            )
        counts = {
            "posts": await _copy(
                conn,
                "posts",
                _POST_COLUMNS,
                _mapped(posts, lambda p: _post_record(site, revision_id, p)),
            ),
            "sections": await _copy(
                conn,
                "sections",
                _SECTION_COLUMNS,
                _mapped(sections, lambda s: _section_record(site, revision_id, dims, s)),
            ),
            "media": await _copy(
                conn,
                "media",
                _MEDIA_COLUMNS,
                _mapped(media, lambda m: _media_record(site, revision_id, dims, m)),
            ),
        }
        changes = await revision_changes(conn, site, previous, revision_id)
        await ensure_vector_indexes(conn, dims)
        # Related posts belong to the revision: computed before it is marked ready.
        await related.compute_related_posts(conn, site, revision_id, dims)
        await conn.execute(
            """
            UPDATE revisions SET state = 'ready', committed_at = now(), counts = $3
            WHERE site_id = $1 AND revision_id = $2
            """,
            site,
            revision_id,
            json.dumps(counts),
        )
        if before_commit is not None:
            await before_commit()
        if switch:
            await _set_current(conn, site, revision_id)
    await _analyze(conn)
    return LoadOutcome(
        counts=counts, previous_revision=previous, changes=changes, switched=switch
    )


async def _set_current(conn: asyncpg.Connection, site: str, revision_id: str) -> None:
    await conn.execute(
        "UPDATE sites SET current_revision = $2, updated_at = now() WHERE site_id = $1",
        site,
        revision_id,
    )


async def switch_current(
    conn: asyncpg.Connection,
    site: str,
    revision_id: str,
    order: RevisionOrder,
) -> str | None:
    """Make a loaded revision current, under the site lock, in the caller's transaction.

    Returns the revision that was current before. Raises `RevisionSuperseded` (changing
    nothing) when the current revision was requested later, and `LookupError` when the
    revision is not loaded (pruned, or never committed).
    """
    if not conn.is_in_transaction():
        raise RuntimeError("switch_current needs the caller's transaction")
    previous, current_order = await lock_site(conn, site)
    if previous is not None and previous != revision_id and current_order > order:
        raise RevisionSuperseded(site, revision_id, previous, current_order)
    state = await conn.fetchval(
        "SELECT state FROM revisions WHERE site_id = $1 AND revision_id = $2",
        site,
        revision_id,
    )
    if state != "ready":
        raise LookupError(f"site {site}: revision {revision_id} is not loaded")
    await _set_current(conn, site, revision_id)
    return previous


async def _analyze(conn: asyncpg.Connection) -> None:
    # Right after a bulk load the planner still believes a revision has ~1 row and sorts
    # every candidate instead of using HNSW, until autovacuum gets round to it. Outside the
    # load transaction: its locks stay short, and the load is committed whatever happens.
    try:
        await conn.execute("ANALYZE posts, sections, media")
    except asyncpg.PostgresError as exc:
        log.warning("ANALYZE after load failed (autovacuum will catch up): %s", exc)


async def current_revision(conn: asyncpg.Connection, site: str) -> str | None:
    """The site's current (fully loaded) revision id, or None."""
    return await conn.fetchval("SELECT current_revision FROM sites WHERE site_id = $1", site)


async def site_source(conn: asyncpg.Connection, site: str) -> tuple[str, str] | None:
    """(repoUrl, distFolder) of the job that loaded the site's current revision, or None
    (no current revision, or one loaded before sources were recorded)."""
    row = await conn.fetchrow(
        """
        SELECT r.repo_url, r.dist_folder FROM sites AS s
        JOIN revisions AS r ON r.site_id = s.site_id AND r.revision_id = s.current_revision
        WHERE s.site_id = $1
        """,
        site,
    )
    if row is None or not row["repo_url"]:
        return None
    return row["repo_url"], row["dist_folder"] or "dist"


async def revision_counts(conn: asyncpg.Connection, site: str, revision_id: str) -> dict[str, int]:
    """Rows actually stored for a revision: `{"posts", "sections", "media"}`."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM posts WHERE site_id = $1 AND revision_id = $2) AS posts,
               (SELECT count(*) FROM sections WHERE site_id = $1 AND revision_id = $2) AS sections,
               (SELECT count(*) FROM media WHERE site_id = $1 AND revision_id = $2) AS media
        """,
        site,
        revision_id,
    )
    return {k: int(row[k]) for k in ("posts", "sections", "media")}


async def prune_revisions(conn: asyncpg.Connection, site: str, *, keep: int = 2) -> list[str]:
    """Delete all but the `keep` newest revisions of a site, counting the current one.

    Never deletes the current revision, nor one ordered after it (loaded by a later job that
    has not switched yet); a site with no current revision keeps everything. "Newest" is the
    revisions' ordering key (request time, job id), then commit time. Old revisions cost
    space and, sharing one HNSW index per dimension, make every vector query and later load
    slower. Returns the revision ids deleted.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    async with conn.transaction():
        current, current_order = await lock_site(conn, site, create=False)
        if current is None:
            return []
        older = [
            r
            for r in await conn.fetch(
                """
                SELECT revision_id, requested_at, job_id, committed_at, created_at
                FROM revisions WHERE site_id = $1 AND revision_id <> $2
                """,
                site,
                current,
            )
            if RevisionOrder.of(r["requested_at"], r["job_id"]) <= current_order
        ]
        older.sort(
            key=lambda r: (
                RevisionOrder.of(r["requested_at"], r["job_id"]),
                r["committed_at"] or r["created_at"],
                r["created_at"],
            ),
            reverse=True,
        )
        doomed = [r["revision_id"] for r in older[keep - 1 :]]
        doomed_tables = ("posts", "sections", "media", "related_posts", "media_thumbnails")
        for table in (*doomed_tables, "revisions"):
            await conn.execute(
                f"DELETE FROM {table} WHERE site_id = $1 AND revision_id = ANY($2::text[])",  # noqa: S608 - fixed table names
                site,
                doomed,
            )
    return doomed


# --- embedding cache ---------------------------------------------------------------------

_CACHE_CHUNK = 5_000


def _as_numpy(value: Vector | np.ndarray) -> np.ndarray:
    return value.to_numpy() if isinstance(value, Vector) else np.asarray(value, dtype=np.float32)


async def get_cached_embeddings(
    conn: asyncpg.Connection, provider: str, model: str, dimensions: int, shas: Sequence[str]
) -> dict[str, np.ndarray]:
    """Cached embeddings (float32) by input sha256; shas not in the cache are absent."""
    found: dict[str, np.ndarray] = {}
    unique = list(dict.fromkeys(shas))
    for start in range(0, len(unique), _CACHE_CHUNK):
        rows = await conn.fetch(
            """
            SELECT input_sha256, embedding FROM embedding_cache
            WHERE provider = $1 AND model = $2 AND dimensions = $3
              AND input_sha256 = ANY($4::text[])
            """,
            provider,
            model,
            dimensions,
            unique[start : start + _CACHE_CHUNK],
        )
        for row in rows:
            found[row["input_sha256"]] = _as_numpy(row["embedding"])
    return found


_CACHE_INSERT_SQL = """
    INSERT INTO embedding_cache (provider, model, dimensions, input_sha256, embedding)
    SELECT $1, $2, $3, t.sha, t.embedding
    FROM unnest($4::text[], $5::vector[]) AS t(sha, embedding)
    ON CONFLICT DO NOTHING
"""
_CACHE_OVERWRITE_SQL = """
    INSERT INTO embedding_cache (provider, model, dimensions, input_sha256, embedding)
    SELECT $1, $2, $3, t.sha, t.embedding
    FROM unnest($4::text[], $5::vector[]) AS t(sha, embedding)
    ON CONFLICT (provider, model, dimensions, input_sha256)
    DO UPDATE SET embedding = EXCLUDED.embedding, created_at = now()
"""


async def put_cached_embeddings(
    conn: asyncpg.Connection,
    provider: str,
    model: str,
    dimensions: int,
    items: Sequence[tuple[str, np.ndarray]],
    *,
    overwrite: bool = False,
) -> None:
    """Store embeddings by input sha256; an existing entry wins (ON CONFLICT DO NOTHING),
    unless `overwrite` (a forced re-embedding replaces what it recomputed)."""
    dims = _check_dims(dimensions)
    sql = _CACHE_OVERWRITE_SQL if overwrite else _CACHE_INSERT_SQL
    # Sorted and deduplicated: concurrent writers then lock keys in the same order and
    # cannot deadlock on each other's unique-index entries.
    by_sha = {sha: vec for sha, vec in items}
    shas = sorted(by_sha)
    for start in range(0, len(shas), _CACHE_CHUNK):
        chunk = shas[start : start + _CACHE_CHUNK]
        # Vector objects, not ndarrays: asyncpg's array encoder would recurse into an ndarray.
        vectors = [_vector(by_sha[sha], dims, f"cache entry {sha}") for sha in chunk]
        await conn.execute(
            sql,
            provider,
            model,
            dims,
            chunk,
            vectors,
        )


# --- search --------------------------------------------------------------------------------

_NO_VECTOR_CTE = "SELECT NULL::text AS section_id, NULL::bigint AS r WHERE false"


def _vector_cte(dims: int) -> str:
    # The expression and `dims = {d}` repeat the partial index's definition exactly, with
    # a literal, so the planner can match the index (a parameter would not, in a generic plan).
    d = _check_dims(dims)
    return f"""
        SELECT section_id, row_number() OVER (ORDER BY distance, section_id) AS r
        FROM (
            SELECT section_id, embedding::vector({d}) <=> $7::vector({d}) AS distance
            FROM sections
            WHERE site_id = $1 AND revision_id = $2 AND dims = {d}
            ORDER BY distance
            LIMIT $4
        ) AS nearest"""  # noqa: S608 - d is a checked int


def search_sql(dims: int | None) -> str:
    """The hybrid search query; `dims=None` leaves out the vector half.

    Parameters: $1 site, $2 revision, $3 query text, $4 candidates per list, $5 RRF k,
    $6 limit, $7 query vector (only with `dims`).
    """
    vec = _NO_VECTOR_CTE if dims is None else _vector_cte(dims)
    return f"""
    WITH lex AS (
        SELECT section_id, row_number() OVER (ORDER BY rank DESC, section_id) AS r
        FROM (
            SELECT s.section_id, ts_rank_cd(s.tsv, q.query) AS rank
            FROM sections AS s, websearch_to_tsquery('english', $3) AS q(query)
            WHERE s.site_id = $1 AND s.revision_id = $2 AND s.tsv @@ q.query
            ORDER BY rank DESC, s.section_id
            LIMIT $4
        ) AS matches
    ),
    vec AS ({vec}),
    fused AS (
        SELECT section_id, lex.r AS lex_rank, vec.r AS vector_rank,
               coalesce(1.0 / ($5 + lex.r), 0) + coalesce(1.0 / ($5 + vec.r), 0) AS score
        FROM lex FULL JOIN vec USING (section_id)
        ORDER BY score DESC, section_id
        LIMIT $6
    )
    SELECT s.post_id, s.post_title AS title, s.section_id, s.anchor, s.heading,
           f.score::float8 AS score, f.lex_rank, f.vector_rank,
           CASE WHEN f.lex_rank IS NULL THEN left(s.content, 200)
                ELSE ts_headline('english', s.content, websearch_to_tsquery('english', $3),
                                 'StartSel="**", StopSel="**", MaxWords=35, MinWords=15')
           END AS snippet
    FROM fused AS f
    JOIN sections AS s ON s.site_id = $1 AND s.revision_id = $2 AND s.section_id = f.section_id
    ORDER BY f.score DESC, f.section_id
    """  # noqa: S608 - only the vector CTE is interpolated, built from a checked int


async def search_sections(
    conn: asyncpg.Connection,
    *,
    site: str,
    query: str,
    query_vector: np.ndarray | None,
    limit: int = 10,
    k: int = 60,
) -> list[dict[str, Any]]:
    """Hybrid search over the site's current revision, fused with Reciprocal Rank Fusion.

    Full text (`websearch_to_tsquery`, ranked by `ts_rank_cd`) and cosine distance on the
    HNSW index each give up to max(5 * limit, 50) candidates; a section scores
    sum(1 / (k + rank)) over the lists it is in. Rows: post_id, title, section_id, anchor,
    heading, score, lex_rank, vector_rank (None when absent from that list), snippet
    (`ts_headline` with **term** marks for text matches, else the first 200 characters).
    `query_vector=None` searches text only. Returns [] for a site with no revision.
    """
    if limit <= 0:
        return []
    candidates = max(5 * limit, 50)
    # One snapshot for the revision lookup and the query; asyncpg refuses an isolation
    # level on a nested transaction, so inside a caller's transaction use theirs.
    nested = conn.is_in_transaction()
    tx = (
        conn.transaction()
        if nested
        else conn.transaction(isolation="repeatable_read", readonly=True)
    )
    async with tx:
        revision = await conn.fetchrow(
            """
            SELECT r.revision_id, r.dimensions FROM sites AS s
            JOIN revisions AS r ON r.site_id = s.site_id AND r.revision_id = s.current_revision
            WHERE s.site_id = $1
            """,
            site,
        )
        if revision is None:
            return []
        args: list[Any] = [site, revision["revision_id"], query, candidates, k, limit]
        dims: int | None = None
        if query_vector is not None:
            dims = revision["dimensions"]
            args.append(_vector(query_vector, dims, "query vector"))
            # HNSW yields at most ef_search rows before the site/revision filter.
            ef_search = str(max(_EF_SEARCH, candidates))
            await conn.execute("SELECT set_config('hnsw.ef_search', $1, true)", ef_search)
        rows = await conn.fetch(search_sql(dims), *args)
    return [dict(row) for row in rows]
