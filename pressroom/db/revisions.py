"""A site's revisions: loading one in one transaction, switching the current one, pruning old
ones. Reading the current revision is `sites`.

A revision is loaded in one transaction under the site's row lock and becomes the site's
current revision only when the whole load commits (or later, by `switch_current`, once its
artifacts are published). Revisions are ordered by request time, then job id
(`RevisionOrder`): an older request never replaces a newer current revision. Every switch
sends `revision_events.notify_switch` in its transaction, so in-memory readers (the API's
answer cache) hear of it when it commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pressroom.db import related
from pressroom.db.revision_events import notify_switch
from pressroom.db.revision_indexes import drop_revision_indexes
from pressroom.db.rows import MediaRow, SectionRow, replace_rows
from pressroom.db.sites import loaded_output_key
from pressroom.db.terms import store_revision_terms
from pressroom.db.vectors import check_dims
from pressroom.models import Post
from pressroom.publish.latest import RevisionOrder
from pressroom.publish.layout import refuse_other_loaded

__all__ = [
    "RevisionLoad",
    "RevisionSuperseded",
    "load_revision",
    "prune_revisions",
    "switch_current",
]

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class RevisionLoad:
    """One revision to load: its ids, rows and embedding identity, and how to load it.

    `requested_at` (default: the transaction's start) and `job_id` order the revision among
    the site's others. With `switch` the revision becomes current when the load commits;
    without, it is stored ready but not current (`switch_current` flips it later).
    `repo_url`/`dist_folder` record where it came from (`sites.site_source`); `output_key` names
    its output (a revision id never gets rows of another output). `before_commit` runs last
    inside the transaction (fault injection: raising there rolls the whole load back).
    Every embedding must have `dimensions` dimensions.
    """

    site: str
    revision_id: str
    job_id: str
    provider: str
    model: str
    dimensions: int
    posts: Iterable[Post] | AsyncIterable[Post] = ()
    sections: Iterable[SectionRow] | AsyncIterable[SectionRow] = ()
    media: Iterable[MediaRow] | AsyncIterable[MediaRow] = ()
    switch: bool = True
    requested_at: datetime | None = None
    repo_url: str | None = None
    dist_folder: str | None = None
    output_key: str | None = None
    before_commit: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What `load_revision` did: row counts, the revision that was current when the load
    began, per-kind changes against it, and whether the current pointer moved."""

    counts: dict[str, int]
    previous_revision: str | None
    changes: dict[str, int]
    switched: bool


# --- the site lock and ordering ------------------------------------------------------------

_LOCK_SITE_SQL = """
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
    row = await conn.fetchrow(_LOCK_SITE_SQL, site)
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


# --- loading -------------------------------------------------------------------------------

_BEGIN_LOAD_SQL = """
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
"""

_READY_SQL = """
    UPDATE revisions SET state = 'ready', committed_at = now(), counts = $3
    WHERE site_id = $1 AND revision_id = $2
"""


async def _begin_load(
    conn: asyncpg.Connection, load: RevisionLoad, dims: int
) -> tuple[str | None, RevisionOrder]:
    """Lock the site, refuse a superseded or conflicting load, and mark the revision
    `loading`; returns the revision current before and this load's ordering key."""
    # Serialises loads of one site; loads of different sites run side by side.
    site, revision_id = load.site, load.revision_id
    previous, current_order = await lock_site(conn, site)
    requested = load.requested_at or await conn.fetchval("SELECT now()")
    order = RevisionOrder.of(requested, load.job_id)
    if previous is not None and current_order > order:
        raise RevisionSuperseded(site, revision_id, previous, current_order)
    # Under the site lock: a revision id never gets rows of another output (the fetch
    # step refuses it early; this closes the race between two such jobs).
    refuse_other_loaded(
        await loaded_output_key(conn, site, revision_id),
        load.output_key or "",
        site=site,
        revision_id=revision_id,
    )
    await conn.execute(
        _BEGIN_LOAD_SQL,
        site,
        revision_id,
        load.job_id,
        load.provider,
        load.model,
        dims,
        order.requested_at,
        load.repo_url,
        load.dist_folder,
        load.output_key,
    )
    return previous, order


async def load_revision(conn: asyncpg.Connection, load: RevisionLoad) -> LoadOutcome:
    """Load one revision of a site in one transaction, under the site's row lock.

    Rows left by an earlier committed attempt at the same revision are replaced, so a retry
    never duplicates. If anything fails (including the caller's iterables raising) nothing
    is written and the site's current revision is unchanged. If the current revision was
    requested later, nothing is written and `RevisionSuperseded` is raised.
    """
    dims = check_dims(load.dimensions)
    site, revision_id = load.site, load.revision_id
    async with conn.transaction():
        previous, _ = await _begin_load(conn, load, dims)
        counts = await replace_rows(
            conn, site, revision_id, dims, posts=load.posts, sections=load.sections,
            media=load.media,
        )  # fmt: skip
        changes = await revision_changes(conn, site, previous, revision_id)
        # Related posts belong to the revision: computed before it is marked ready.
        await related.compute_related_posts(conn, site, revision_id, dims)
        await store_revision_terms(conn, site, revision_id)
        await conn.execute(_READY_SQL, site, revision_id, json.dumps(counts))
        if load.before_commit is not None:
            await load.before_commit()
        if load.switch:
            await _set_current(conn, site, revision_id)
        elif previous == revision_id:
            # The current revision's rows were replaced in place (a retry): readers that
            # remember answers for it must forget them, as after a switch.
            await notify_switch(conn, site)
    await _analyze(conn)
    return LoadOutcome(
        counts=counts, previous_revision=previous, changes=changes, switched=load.switch
    )


async def _analyze(conn: asyncpg.Connection) -> None:
    # Right after a bulk load the planner still believes a revision has ~1 row and sorts
    # every candidate instead of using HNSW, until autovacuum gets round to it. Outside the
    # load transaction: its locks stay short, and the load is committed whatever happens.
    try:
        await conn.execute("ANALYZE posts, sections, media, revision_terms")
    except asyncpg.PostgresError as exc:
        log.warning("ANALYZE after load failed (autovacuum will catch up): %s", exc)


# --- switching -----------------------------------------------------------------------------


async def _set_current(conn: asyncpg.Connection, site: str, revision_id: str) -> None:
    """The one place `sites.current_revision` changes; listeners hear of it at commit."""
    await conn.execute(
        "UPDATE sites SET current_revision = $2, updated_at = now() WHERE site_id = $1",
        site,
        revision_id,
    )
    await notify_switch(conn, site)


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


# --- retention -----------------------------------------------------------------------------

# Every table holding a revision's rows, `revisions` last.
_REVISION_TABLES = (
    "posts",
    "sections",
    "media",
    "related_posts",
    "media_thumbnails",
    "revision_terms",
    "revisions",
)


async def prune_revisions(conn: asyncpg.Connection, site: str, *, keep: int = 2) -> list[str]:
    """Delete all but the `keep` newest revisions of a site, counting the current one.

    Never deletes the current revision, nor one ordered after it (loaded by a later job that
    has not switched yet); a site with no current revision keeps everything. "Newest" is the
    revisions' ordering key (request time, job id), then commit time. The deleted revisions'
    indexes are dropped after the deletion commits (`revision_indexes`), so `conn` must
    not be in a transaction. Returns the revision ids deleted.
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
        for table in _REVISION_TABLES:
            await conn.execute(
                f"DELETE FROM {table} WHERE site_id = $1 AND revision_id = ANY($2::text[])",  # noqa: S608 - fixed table names
                site,
                doomed,
            )
    if doomed:
        await drop_revision_indexes(conn)
    return doomed
