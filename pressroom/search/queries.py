"""The search's SQL over one revision: full text and vector candidates for sections and
images, then the rows that decorate the fused hits. Each function runs one query (or two)
and returns plain values; fusing and shaping the answer is `searcher`'s.

- **Full text**: every section is stemmed in its post's language (`sections.lang`). A query
  is parsed like `websearch_to_tsquery` (quoted phrases, `-word` exclusions) but its terms are
  OR-ed, so a long natural question still matches; sections rank by `ts_rank_cd` (title
  weight A above heading B above body C), which rewards holding more of the terms, closer.
- **Vector**: cosine distance (HNSW index, exact scan when filtered or when the index comes
  up short).
- **Images**: alt text, description and file name (full text) plus media vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pgvector import Vector

from pressroom.db.vectors import check_dims
from pressroom.search.fusion import Hit
from pressroom.search.hits import MARK_START, MARK_STOP

__all__ = [
    "Scope",
    "Terms",
    "image_rows",
    "image_text_ranks",
    "image_vector_ranks",
    "languages",
    "post_rows",
    "section_details",
    "text_hits",
    "vector_hits",
]

# HNSW yields at most ef_search rows before the site/revision filter (pgvector 0.6).
_EF_SEARCH_MAX = 1000
# ts_rank_cd normalisation 1: divide by 1 + log(length), so a long section does not win on
# term count alone.
_RANK_NORMALIZATION = 1
_HEADLINE_OPTIONS = (
    f'StartSel="{MARK_START}", StopSel="{MARK_STOP}", MaxWords=30, MinWords=12, '
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_PLAIN_SNIPPET_CHARS = 280  # then trimmed to 240 at a word boundary


@dataclass(frozen=True)
class Scope:
    """Where a search looks: one revision's posts, those with any of `tags` (lower-cased;
    None: any) dated within [date_from, date_to)."""

    site: str
    revision_id: str
    tags: list[str] | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.tags or self.date_from or self.date_to)

    @property
    def args(self) -> tuple[Any, ...]:
        """$1 site, $2 revision, $3-$5 the filters, as every query below numbers them."""
        return (self.site, self.revision_id, self.tags, self.date_from, self.date_to)


@dataclass(frozen=True)
class Terms:
    """A parsed query: terms to OR together, terms to exclude, and the revision's languages
    (each term is parsed in every language present)."""

    include: list[str]
    exclude: list[str]
    langs: list[str]


# One row per language present in the revision: its configuration and the OR-ed query
# (NULL when no term survives stemming and stop words), each term (a word or a quoted
# phrase) parsed by `websearch_to_tsquery` in that language.
_QUERIES_CTE = """
    queries AS (
        SELECT l.lang, pressroom_regconfig(l.lang) AS cfg,
               (SELECT ('(' || string_agg('(' || t.q::text || ')', ' | ') || ')'
                        || coalesce((SELECT ' & ' || string_agg('!(' || n.q::text || ')', ' & ')
                                     FROM unnest({excl}::text[]) AS e(term),
                                          websearch_to_tsquery(pressroom_regconfig(l.lang), e.term)
                                              AS n(q)
                                     WHERE numnode(n.q) > 0), ''))::tsquery
                FROM unnest({terms}::text[]) AS i(term),
                     websearch_to_tsquery(pressroom_regconfig(l.lang), i.term) AS t(q)
                WHERE numnode(t.q) > 0) AS any_terms
        FROM unnest({langs}::text[]) AS l(lang)
    )"""


def _queries_cte(terms: str, excl: str, langs: str) -> str:
    return _QUERIES_CTE.format(terms=terms, excl=excl, langs=langs)


# Post filters; $3 tags (lower-cased, NULL: any), $4 from, $5 to (exclusive).
_POST_FILTER = """
    ($3::text[] IS NULL OR EXISTS (
        SELECT 1 FROM unnest(p.tags) AS tag WHERE lower(tag) = ANY($3::text[])))
    AND ($4::timestamptz IS NULL OR p.date >= $4)
    AND ($5::timestamptz IS NULL OR p.date < $5)
"""

# Params: $1 site, $2 revision, $3-$5 filters, $6 terms, $7 exclusions, $8 languages,
# $9 candidates.
_TEXT_SQL = f"""
    WITH {_queries_cte("$6", "$7", "$8")}
    SELECT s.section_id, s.post_id,
           ts_rank_cd(s.tsv, q.any_terms, {_RANK_NORMALIZATION}) AS rank
    FROM queries AS q
    JOIN sections AS s
      ON s.site_id = $1 AND s.revision_id = $2 AND s.lang = q.lang AND s.tsv @@ q.any_terms
    JOIN posts AS p
      ON p.site_id = s.site_id AND p.revision_id = s.revision_id AND p.post_id = s.post_id
    WHERE q.any_terms IS NOT NULL AND {_POST_FILTER}
    ORDER BY rank DESC, s.section_id
    LIMIT $9
"""  # noqa: S608 - only fixed fragments are interpolated


def _vector_sql(dims: int, *, exact: bool) -> str:
    """Params: $1 site, $2 revision, $3-$5 filters, $6 query vector, $7 candidates."""
    d = check_dims(dims)
    # The expression and `dims = {d}` repeat the partial HNSW index's definition with a
    # literal, so the planner can match it; `+ 0` hides the expression when an exact scan
    # is wanted (a filtered query would otherwise lose rows to the post-scan filter).
    distance = f"s.embedding::vector({d}) <=> $6::vector({d})"
    order = f"({distance}) + 0" if exact else distance
    return f"""
        SELECT s.section_id, s.post_id, {distance} AS distance
        FROM sections AS s
        JOIN posts AS p
          ON p.site_id = s.site_id AND p.revision_id = s.revision_id AND p.post_id = s.post_id
        WHERE s.site_id = $1 AND s.revision_id = $2 AND s.dims = {d} AND {_POST_FILTER}
        ORDER BY {order}, s.section_id
        LIMIT $7
    """  # noqa: S608 - d is a checked int, the rest fixed fragments


# Params: $1 site, $2 revision, $3 section ids, $4 terms, $5 exclusions, $6 languages,
# $7 headline options.
_DETAILS_SQL = f"""
    WITH {_queries_cte("$4", "$5", "$6")}
    SELECT s.section_id, s.post_id, s.anchor, s.heading, s.level, s.position, s.lang,
           CASE WHEN q.any_terms IS NOT NULL AND s.tsv @@ q.any_terms
                THEN ts_headline(q.cfg, s.content, q.any_terms, $7)
           END AS headline,
           left(s.content, {_PLAIN_SNIPPET_CHARS}) AS plain
    FROM sections AS s
    LEFT JOIN queries AS q ON q.lang = s.lang
    WHERE s.site_id = $1 AND s.revision_id = $2 AND s.section_id = ANY($3::text[])
"""  # noqa: S608 - only fixed fragments are interpolated

_POSTS_SQL = """
    SELECT post_id, title, slug, path, date, tags, description,
           data -> 'front_matter' ->> 'permalink' AS permalink
    FROM posts
    WHERE site_id = $1 AND revision_id = $2 AND post_id = ANY($3::text[])
"""

_IMAGE_DOC = (
    "concat_ws(' ', m.description, array_to_string(m.alt_texts, ' '), "
    "regexp_replace(regexp_replace(m.path, '^.*/|\\.[^.]*$', '', 'g'), '[-_.+]+', ' ', 'g'))"
)
_IMAGE_FILTER = f"""
    ($3::text[] IS NULL AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL
     OR EXISTS (SELECT 1 FROM posts AS p
                WHERE p.site_id = m.site_id AND p.revision_id = m.revision_id
                  AND p.post_id = ANY(m.post_ids) AND {_POST_FILTER}))
"""  # noqa: S608 - only fixed fragments are interpolated

# Params as _TEXT_SQL. Media have no language of their own: every language of the revision
# gets a try and the best rank counts.
_IMAGE_TEXT_SQL = f"""
    WITH {_queries_cte("$6", "$7", "$8")}
    SELECT m.path, max(ts_rank_cd(to_tsvector(q.cfg, {_IMAGE_DOC}), q.any_terms,
                                  {_RANK_NORMALIZATION})) AS rank
    FROM media AS m, queries AS q
    WHERE m.site_id = $1 AND m.revision_id = $2 AND q.any_terms IS NOT NULL
      AND to_tsvector(q.cfg, {_IMAGE_DOC}) @@ q.any_terms AND {_IMAGE_FILTER}
    GROUP BY m.path
    ORDER BY rank DESC, m.path
    LIMIT $9
"""  # noqa: S608 - only fixed fragments are interpolated


def _image_vector_sql(dims: int) -> str:
    """Params: $1 site, $2 revision, $3-$5 filters, $6 query vector, $7 candidates."""
    d = check_dims(dims)
    return f"""
        SELECT m.path, m.embedding::vector({d}) <=> $6::vector({d}) AS distance
        FROM media AS m
        WHERE m.site_id = $1 AND m.revision_id = $2 AND m.dims = {d} AND {_IMAGE_FILTER}
        ORDER BY distance, m.path
        LIMIT $7
    """  # noqa: S608 - d is a checked int, the rest fixed fragments


_IMAGES_SQL = """
    SELECT m.path, m.mime, m.width, m.height, m.alt_texts, m.post_ids, m.description,
           t.path IS NOT NULL AS has_thumbnail,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('postId', p.post_id, 'title', p.title)
                                      ORDER BY p.post_id), '[]'::jsonb)::text
            FROM posts AS p
            WHERE p.site_id = m.site_id AND p.revision_id = m.revision_id
              AND p.post_id = ANY(m.post_ids)) AS posts
    FROM media AS m
    LEFT JOIN media_thumbnails AS t
      ON t.site_id = m.site_id AND t.revision_id = m.revision_id AND t.path = m.path
    WHERE m.site_id = $1 AND m.revision_id = $2 AND m.path = ANY($3::text[])
"""


# --- running them ---------------------------------------------------------------------------


async def languages(conn: asyncpg.Connection, site: str, revision_id: str) -> list[str]:
    """The text-search configurations a revision's sections use ("english" when it has none)."""
    rows = await conn.fetch(
        "SELECT DISTINCT lang FROM sections WHERE site_id = $1 AND revision_id = $2",
        site,
        revision_id,
    )
    return sorted(r["lang"] for r in rows) or ["english"]


async def text_hits(
    conn: asyncpg.Connection, scope: Scope, terms: Terms, candidates: int
) -> list[Hit]:
    """Sections matching any term, best `ts_rank_cd` first."""
    rows = await conn.fetch(
        _TEXT_SQL, *scope.args, terms.include, terms.exclude, terms.langs, candidates
    )
    return [Hit(r["section_id"], r["post_id"], r["rank"]) for r in rows]


async def vector_hits(
    conn: asyncpg.Connection, scope: Scope, dims: int, query: Vector, candidates: int
) -> list[Hit]:
    """The sections nearest to `query`, scored by cosine similarity. Runs in the caller's
    transaction (it sets `hnsw.ef_search` for it)."""
    rows: list[asyncpg.Record] = []
    if not scope.filtered:
        ef = str(min(_EF_SEARCH_MAX, max(candidates, 100)))
        await conn.execute("SELECT set_config('hnsw.ef_search', $1, true)", ef)
        rows = await conn.fetch(_vector_sql(dims, exact=False), *scope.args, query, candidates)
    if len(rows) < candidates:
        # Filtered, or HNSW came up short (other sites' rows crowd its candidates, or
        # the revision is small): an exact scan of this revision is cheap and complete.
        rows = await conn.fetch(_vector_sql(dims, exact=True), *scope.args, query, candidates)
    return [Hit(r["section_id"], r["post_id"], 1.0 - float(r["distance"])) for r in rows]


async def section_details(
    conn: asyncpg.Connection, scope: Scope, section_ids: list[str], terms: Terms
) -> dict[str, asyncpg.Record]:
    """Anchor, heading, level, lang, `headline` (ts_headline with MARK_START/MARK_STOP, None
    when the body holds no term) and `plain` (the opening) of each section, by id."""
    rows = await conn.fetch(
        _DETAILS_SQL, scope.site, scope.revision_id, section_ids, terms.include, terms.exclude,
        terms.langs, _HEADLINE_OPTIONS,
    )  # fmt: skip
    return {row["section_id"]: row for row in rows}


async def post_rows(
    conn: asyncpg.Connection, scope: Scope, post_ids: list[str]
) -> dict[str, asyncpg.Record]:
    """Title, slug, path, date, tags, description and permalink of each post, by id."""
    rows = await conn.fetch(_POSTS_SQL, scope.site, scope.revision_id, post_ids)
    return {row["post_id"]: row for row in rows}


async def image_text_ranks(
    conn: asyncpg.Connection, scope: Scope, terms: Terms, candidates: int
) -> list[tuple[str, float]]:
    """(path, ts_rank_cd) of the images whose text matches any term, best first."""
    rows = await conn.fetch(
        _IMAGE_TEXT_SQL, *scope.args, terms.include, terms.exclude, terms.langs, candidates
    )
    return [(row["path"], float(row["rank"])) for row in rows]


async def image_vector_ranks(
    conn: asyncpg.Connection, scope: Scope, dims: int, query: Vector, candidates: int
) -> list[tuple[str, float]]:
    """(path, cosine similarity) of the images nearest to `query`, best first."""
    rows = await conn.fetch(_image_vector_sql(dims), *scope.args, query, candidates)
    return [(row["path"], 1.0 - float(row["distance"])) for row in rows]


async def image_rows(
    conn: asyncpg.Connection, scope: Scope, paths: list[str]
) -> dict[str, asyncpg.Record]:
    """Mime, size, alt texts, description, `has_thumbnail` and `posts` (a JSON array of
    {postId, title}) of each image, by path."""
    rows = await conn.fetch(_IMAGES_SQL, scope.site, scope.revision_id, paths)
    return {row["path"]: row for row in rows}
