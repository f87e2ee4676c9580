"""The search's SQL over one revision: full text and vector candidates for sections and
images, then the rows that decorate the fused hits. Each function runs one query (or two)
and returns plain values; fusing and shaping the answer is `searcher`'s.

- **Full text**: every section is stemmed in its post's language (`sections.lang`). A query
  is parsed like `websearch_to_tsquery` (quoted phrases, `-word` exclusions) but its terms are
  OR-ed, so a long natural question still matches; sections rank by `ts_rank_cd` (title
  weight A above heading B above body C), which rewards holding more of the terms, closer.
- **Vector**: cosine distance. Unfiltered, the revision's own HNSW index gives the nearest
  sections; filtered, pgvector 0.8+ walks the index on (`hnsw.iterative_scan`) until enough
  rows pass the filter, and older pgvector over-fetches from the index, then reads the
  matching posts' sections exactly when the filter left too few.
- **Images**: a stored tsvector of alt text, description and file name, plus media vectors.

Every index these queries use is a partial index of one revision (`db.revision_indexes`).
The planner can use one only when it sees the site and revision as values, so `session`
plans each statement with its parameters (`plan_cache_mode = force_custom_plan`): planning
a statement again costs tens of microseconds, a generic plan's scan of every revision's rows
tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pgvector import Vector

from pressroom.db.vectors import check_dims
from pressroom.search.fusion import SECTIONS_PER_POST, Hit
from pressroom.search.hits import MARK_START, MARK_STOP

__all__ = [
    "EXACT_SCAN_MAX_ROWS",
    "Scope",
    "Terms",
    "ef_search_for",
    "image_rows",
    "image_text_ranks",
    "image_vector_ranks",
    "iterative_scans",
    "languages",
    "passing_posts",
    "post_rows",
    "section_details",
    "session",
    "text_hits",
    "vector_hits",
]

# HNSW yields at most ef_search rows (pgvector < 0.8 stops there, filter or not).
_EF_SEARCH_MAX = 1000
# A filtered search first asks the index for this many times its candidates.
_FILTERED_OVERFETCH = 4
# Up to this many rows, a revision is searched by exact distance, not by its HNSW graph: as
# fast at that size, and the same answer every time (HNSW's graph depends on the random
# levels drawn when it was built, so two builds of one revision can rank a near tie apart).
EXACT_SCAN_MAX_ROWS = 2000
# ts_rank_cd normalisation 1: divide by 1 + log(length), so a long section does not win on
# term count alone.
_RANK_NORMALIZATION = 1
_HEADLINE_OPTIONS = (
    f'StartSel="{MARK_START}", StopSel="{MARK_STOP}", MaxWords=30, MinWords=12, '
    'MaxFragments=2, FragmentDelimiter=" … "'
)
_PLAIN_SNIPPET_CHARS = 280  # then trimmed to 240 at a word boundary
# ts_headline parses all the text it is given, on every search: a section's opening is where
# a snippet is looked for (a matching word past it leaves the plain opening as the snippet).
_HEADLINE_CHARS = 20_000


@dataclass(frozen=True)
class Scope:
    """Where a search looks: one revision's posts, those with any of `tags` (lower-cased;
    None: any) dated within [date_from, date_to). `post_ids`, when set, lists the posts
    that pass those filters (`passing_posts`: few enough to read by id)."""

    site: str
    revision_id: str
    tags: list[str] | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    post_ids: list[str] | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.tags or self.date_from or self.date_to)

    @property
    def by_posts(self) -> bool:
        return self.post_ids is not None

    @property
    def args(self) -> tuple[Any, ...]:
        """$1 site, $2 revision, $3-$5 the filters, as every query below numbers them; by
        posts, $3 the passing posts' ids (and $4, $5 NULL)."""
        if self.post_ids is not None:
            return (self.site, self.revision_id, self.post_ids, None, None)
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
# phrase) parsed by `websearch_to_tsquery` in that language. MATERIALIZED: inlined, the
# query's subselect is built again for every row it is matched against (35 us a row: 270 ms
# for the 7,810 sections a common word matches in a 10,000-post revision).
_QUERIES_CTE = """
    queries AS MATERIALIZED (
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
    ($3::text[] IS NULL OR pressroom_lower_tags(p.tags) && $3::text[])
    AND ($4::timestamptz IS NULL OR p.date >= $4)
    AND ($5::timestamptz IS NULL OR p.date < $5)
"""

_NO_FILTER = "$3::text[] IS NULL AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL"
# By posts: $3 the ids of the posts that pass the filters.
_BY_POSTS = "s.post_id = ANY($3::text[]) AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL"
# (An = ANY over a list of values is hashed; && compares every pair.)
_IMAGE_BY_POSTS = (
    "EXISTS (SELECT 1 FROM unnest(m.post_ids) AS pid WHERE pid = ANY($3::text[])) "
    "AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL"
)
# A filter that passes at most this many posts is applied by their ids: their sections
# are read by post and compared exactly (about 5 us a section), rather than the revision's
# indexes walked for rows the filter then drops.
BY_POSTS_MAX = 500


# The candidates of a full-text search: the sections holding any of the query's rarer words,
# taken rarest first while the sections holding them add up to at most this many (from the
# revision's word counts, `db.terms`); when even the rarest word is more common, the
# sections holding every word. Ranking each matching section costs about 5 us: an OR of
# common words ("how to set up posts") matches 7,800 of a 10,000-post revision's 30,000.
RANKED_SECTIONS_BUDGET = 1500

# Per language: each term's query and how many sections hold its rarest word (0: none, or a
# revision loaded before word counts were kept, which is then searched unpruned), and the
# candidate query made of them. Params as _text_sql's, and $10 RANKED_SECTIONS_BUDGET.
_CANDIDATES_CTE = """
    term_counts AS MATERIALIZED (
        SELECT l.lang, t.q,
               (SELECT coalesce(min(rt.sections), 0)
                FROM revision_terms AS rt
                WHERE rt.site_id = $1 AND rt.revision_id = $2
                  AND rt.lexeme = ANY(tsvector_to_array(
                          to_tsvector(pressroom_regconfig(l.lang), i.term)))) AS n
        FROM unnest($8::text[]) AS l(lang), unnest($6::text[]) AS i(term),
             websearch_to_tsquery(pressroom_regconfig(l.lang), i.term) AS t(q)
        WHERE numnode(t.q) > 0
    ),
    running AS (
        SELECT lang, q, sum(n) OVER (PARTITION BY lang ORDER BY n, q::text
                                     ROWS UNBOUNDED PRECEDING) AS upto
        FROM term_counts
    ),
    candidates AS MATERIALIZED (
        SELECT q.lang, q.any_terms,
               coalesce(
                   (SELECT string_agg('(' || r.q::text || ')', ' | ') FROM running AS r
                    WHERE r.lang = q.lang AND r.upto <= $10),
                   (SELECT string_agg('(' || c.q::text || ')', ' & ') FROM term_counts AS c
                    WHERE c.lang = q.lang)
               )::tsquery && q.any_terms AS matching
        FROM queries AS q
        WHERE q.any_terms IS NOT NULL
    )"""


def _text_sql(*, filtered: bool, pruned: bool, by_posts: bool = False) -> str:
    """Sections matching the query, best first, at most SECTIONS_PER_POST of one post (a
    hit shows no more, and a post with 500 matching sections would fill every candidate).
    `pruned`: only those of the rarer words (_CANDIDATES_CTE), all ranked by every word.
    Params: $1 site, $2 revision, $3-$5 filters, $6 terms, $7 exclusions, $8 languages,
    $9 candidates. Unfiltered, posts are not joined: that join costs a lookup per match."""
    posts = (
        f"WHERE {_BY_POSTS}"
        if by_posts
        else f"""JOIN posts AS p
              ON p.site_id = s.site_id AND p.revision_id = s.revision_id AND p.post_id = s.post_id
            WHERE {_POST_FILTER}"""
        if filtered
        else f"WHERE {_NO_FILTER}"
    )
    matching = (
        f"{_CANDIDATES_CTE}"
        if pruned
        else """
    candidates AS (SELECT lang, any_terms, any_terms AS matching FROM queries
                   WHERE any_terms IS NOT NULL)"""
    )
    return f"""
        WITH {_queries_cte("$6", "$7", "$8")},{matching},
        ranked AS (
            SELECT s.section_id, s.post_id,
                   ts_rank_cd(s.tsv, c.any_terms, {_RANK_NORMALIZATION}) AS rank
            FROM candidates AS c
            JOIN sections AS s
              ON s.site_id = $1 AND s.revision_id = $2 AND s.lang = c.lang
             AND s.tsv @@ c.matching
            {posts}
        )
        SELECT section_id, post_id, rank
        FROM (SELECT r.*, row_number() OVER (PARTITION BY r.post_id
                                             ORDER BY r.rank DESC, r.section_id) AS nth
              FROM ranked AS r) AS t
        WHERE nth <= {SECTIONS_PER_POST}
        ORDER BY rank DESC, section_id
        LIMIT $9
    """  # noqa: S608 - only fixed fragments are interpolated


def _vector_sql(dims: int, *, filtered: bool, iterative: bool) -> str:
    """The nearest sections by the revision's HNSW index. Params: $1 site, $2 revision, $3-$5
    filters, $6 query vector, $7 candidates, $8 how many to take from the index.

    Filtered, the posts are joined inside the index scan's query when the index scan is
    iterative (it goes on until $8 rows pass), else after it (of its $8, those that pass)."""
    d = check_dims(dims)
    # The expression and `dims = {d}` repeat the partial index's definition; the inner
    # ORDER BY is the distance alone, which is what an HNSW index scan can give.
    distance = f"s.embedding::vector({d}) <=> $6::vector({d})"
    join = """JOIN posts AS p
                ON p.site_id = {t}.site_id AND p.revision_id = {t}.revision_id
               AND p.post_id = {t}.post_id"""
    inside = filtered and iterative
    after = filtered and not iterative
    # Unfiltered, $3-$5 are NULL; saying so types them (and a custom plan folds it away).
    no_filter = "" if filtered else f"AND {_NO_FILTER}"
    return f"""
        SELECT n.section_id, n.post_id, n.distance
        FROM (SELECT s.site_id, s.revision_id, s.section_id, s.post_id, {distance} AS distance
              FROM sections AS s {join.format(t="s") if inside else ""}
              WHERE s.site_id = $1 AND s.revision_id = $2 AND s.dims = {d} {no_filter}
                    {"AND " + _POST_FILTER if inside else ""}
              ORDER BY {distance}
              LIMIT $8) AS n
        {join.format(t="n") + " WHERE " + _POST_FILTER if after else ""}
        ORDER BY n.distance, n.section_id
        LIMIT $7
    """  # noqa: S608 - d is a checked int, the rest fixed fragments


def _exact_vector_sql(dims: int, *, filtered: bool, by_posts: bool = False) -> str:
    """Every section of the revision (filtered: of the posts passing the filters), by exact
    distance. Params: $1 site, $2 revision, $3-$5 filters, $6 query vector, $7 candidates."""
    d = check_dims(dims)
    # `+ 0` hides the expression from the HNSW index: this scan must be complete.
    distance = f"s.embedding::vector({d}) <=> $6::vector({d})"
    posts = (
        f"WHERE {_BY_POSTS} AND"
        if by_posts
        else f"""JOIN posts AS p
              ON p.site_id = s.site_id AND p.revision_id = s.revision_id AND p.post_id = s.post_id
            WHERE {_POST_FILTER} AND"""
        if filtered
        else f"WHERE {_NO_FILTER} AND"
    )
    return f"""
        SELECT s.section_id, s.post_id, {distance} AS distance
        FROM sections AS s
        {posts} s.site_id = $1 AND s.revision_id = $2 AND s.dims = {d}
        ORDER BY ({distance}) + 0, s.section_id
        LIMIT $7
    """  # noqa: S608 - d is a checked int, the rest fixed fragments


# Params: $1 site, $2 revision, $3 section ids, $4 terms, $5 exclusions, $6 languages,
# $7 headline options.
_DETAILS_SQL = f"""
    WITH {_queries_cte("$4", "$5", "$6")}
    SELECT s.section_id, s.post_id, s.anchor, s.heading, s.level, s.position, s.lang,
           CASE WHEN q.any_terms IS NOT NULL AND s.tsv @@ q.any_terms
                THEN ts_headline(q.cfg, left(s.content, {_HEADLINE_CHARS}), q.any_terms, $7)
           END AS headline,
           left(s.content, {_PLAIN_SNIPPET_CHARS}) AS plain
    FROM sections AS s
    LEFT JOIN queries AS q ON q.lang = s.lang
    WHERE s.site_id = $1 AND s.revision_id = $2 AND s.section_id = ANY($3::text[])
"""  # noqa: S608 - only fixed fragments are interpolated

_POSTS_SQL = """
    SELECT post_id, title, slug, path, url, date, updated, authors, tags, description, summary,
           data -> 'front_matter' ->> 'permalink' AS permalink
    FROM posts
    WHERE site_id = $1 AND revision_id = $2 AND post_id = ANY($3::text[])
"""

_IMAGE_FILTER = f"""
    ($3::text[] IS NULL AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL
     OR EXISTS (SELECT 1 FROM posts AS p
                WHERE p.site_id = m.site_id AND p.revision_id = m.revision_id
                  AND p.post_id = ANY(m.post_ids) AND {_POST_FILTER}))
"""  # noqa: S608 - only fixed fragments are interpolated


def _image_text_sql(*, by_posts: bool) -> str:
    """Params as _text_sql's. Each image's words are stemmed in its first post's language
    (`media.tsv`, stored)."""
    return f"""
        WITH {_queries_cte("$6", "$7", "$8")}
        SELECT m.path, ts_rank_cd(m.tsv, q.any_terms, {_RANK_NORMALIZATION}) AS rank
        FROM queries AS q
        JOIN media AS m
          ON m.site_id = $1 AND m.revision_id = $2 AND m.lang = q.lang AND m.tsv @@ q.any_terms
        WHERE q.any_terms IS NOT NULL AND {_IMAGE_BY_POSTS if by_posts else _IMAGE_FILTER}
        ORDER BY rank DESC, m.path
        LIMIT $9
    """  # noqa: S608 - only fixed fragments are interpolated


def _image_vector_sql(dims: int, *, exact: bool, by_posts: bool = False) -> str:
    """Params: $1 site, $2 revision, $3-$5 filters, $6 query vector, $7 candidates. By the
    revision's HNSW index, or exactly (filters apply then: a revision has far fewer images
    than sections, and no iterative scan is needed)."""
    d = check_dims(dims)
    distance = f"m.embedding::vector({d}) <=> $6::vector({d})"
    return f"""
        SELECT n.path, n.distance
        FROM (SELECT m.path, {distance} AS distance
              FROM media AS m
              WHERE m.site_id = $1 AND m.revision_id = $2 AND m.dims = {d}
                    AND {(_IMAGE_BY_POSTS if by_posts else _IMAGE_FILTER) if exact else _NO_FILTER}
              ORDER BY {"(" + distance + ") + 0, m.path" if exact else distance}
              LIMIT $7) AS n
        ORDER BY n.distance, n.path
    """  # noqa: S608 - d is a checked int, the rest fixed fragments


_IMAGES_SQL = """
    SELECT m.path, m.mime, m.width, m.height, m.alt_texts, m.post_ids, m.description,
           m.url, m.published_url, t.path IS NOT NULL AS has_thumbnail,
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


async def iterative_scans(conn: asyncpg.Connection) -> bool:
    """Whether the database's pgvector walks an HNSW index past `ef_search` (0.8 and later)."""
    version = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    parts = tuple(int(p) for p in str(version or "0").split(".")[:2] if p.isdigit())
    return parts >= (0, 8)


async def passing_posts(conn: asyncpg.Connection, scope: Scope, limit: int) -> list[str]:
    """The ids of the posts that pass the scope's filters, at most `limit` of them."""
    rows = await conn.fetch(
        f"""
        SELECT p.post_id FROM posts AS p
        WHERE p.site_id = $1 AND p.revision_id = $2 AND {_POST_FILTER}
        LIMIT $6
        """,  # noqa: S608 - only fixed fragments are interpolated
        *scope.args,
        limit,
    )
    return [r["post_id"] for r in rows]


def _posts_in(rows: list[asyncpg.Record]) -> int:
    return len({r["post_id"] for r in rows})


async def session(conn: asyncpg.Connection, *, ef_search: int, iterative: bool) -> None:
    """Settings for the caller's transaction, in one round trip: plan every statement with
    its parameters (so the revision's partial indexes match), the HNSW candidate list, and
    where pgvector has them, strictly ordered iterative index scans."""
    ef = str(min(_EF_SEARCH_MAX, max(ef_search, 1)))
    if iterative:
        await conn.execute(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('hnsw.ef_search', $1, true), "
            "set_config('hnsw.iterative_scan', 'strict_order', true)",
            ef,
        )
    else:
        await conn.execute(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('hnsw.ef_search', $1, true)",
            ef,
        )


def ef_search_for(candidates: int, *, filtered: bool, iterative: bool) -> int:
    """The HNSW candidate list a search needs: its candidates, or more when a filter will
    drop some of what an index scan that stops at `ef_search` returns."""
    wanted = candidates * (_FILTERED_OVERFETCH if filtered and not iterative else 1)
    return min(_EF_SEARCH_MAX, max(wanted, 100))


async def languages(conn: asyncpg.Connection, site: str, revision_id: str) -> list[str]:
    """The text-search configurations a revision's sections use ("english" when it has none)."""
    rows = await conn.fetch(
        "SELECT DISTINCT lang FROM sections WHERE site_id = $1 AND revision_id = $2",
        site,
        revision_id,
    )
    return sorted(r["lang"] for r in rows) or ["english"]


async def text_hits(
    conn: asyncpg.Connection, scope: Scope, terms: Terms, candidates: int, enough: int
) -> list[Hit]:
    """Sections matching any term, best `ts_rank_cd` first: those holding the query's
    rarer words (RANKED_SECTIONS_BUDGET), or, when they are in fewer than `enough` posts,
    all."""
    args = (*scope.args, terms.include, terms.exclude, terms.langs, candidates)
    every = _text_sql(filtered=scope.filtered, pruned=False, by_posts=scope.by_posts)
    if scope.by_posts:  # a few posts' sections: all ranked
        rows = await conn.fetch(every, *args)
    else:
        pruned = _text_sql(filtered=scope.filtered, pruned=True)
        rows = await conn.fetch(pruned, *args, RANKED_SECTIONS_BUDGET)
        if _posts_in(rows) < enough:
            rows = await conn.fetch(every, *args)
    return [Hit(r["section_id"], r["post_id"], r["rank"]) for r in rows]


async def vector_hits(
    conn: asyncpg.Connection,
    scope: Scope,
    dims: int,
    query: Vector,
    candidates: int,
    *,
    iterative: bool,
    exact: bool = False,
    enough: int = 1,
) -> list[Hit]:
    """The sections nearest to `query`, scored by cosine similarity: by exact distance when
    `exact` (a small revision), else by the revision's HNSW index, unless what passed the
    filters of what the index gave is in fewer than `enough` posts. Runs in the caller's
    transaction, after `session` (which set `hnsw.ef_search` to `ef_search_for`)."""
    # A few posts' sections (by posts) or a small revision's: exactly, at once.
    exact = exact or scope.by_posts
    rows: list[asyncpg.Record] = []
    if not exact:
        take = ef_search_for(candidates, filtered=scope.filtered, iterative=iterative)
        sql = _vector_sql(dims, filtered=scope.filtered, iterative=iterative)
        rows = await conn.fetch(
            sql, *scope.args, query, candidates, take if scope.filtered else candidates
        )
    if exact or (len(rows) < candidates and _posts_in(rows) < enough):
        # The filter passed too few of what the index gave (or the revision is small, or
        # has no index yet): the matching posts' sections, exactly, are complete.
        sql = _exact_vector_sql(dims, filtered=scope.filtered, by_posts=scope.by_posts)
        rows = await conn.fetch(sql, *scope.args, query, candidates)
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
    """Title, slug, path, url, date, updated, authors, tags, description, summary and
    permalink of each post, by id."""
    rows = await conn.fetch(_POSTS_SQL, scope.site, scope.revision_id, post_ids)
    return {row["post_id"]: row for row in rows}


async def image_text_ranks(
    conn: asyncpg.Connection, scope: Scope, terms: Terms, candidates: int
) -> list[tuple[str, float]]:
    """(path, ts_rank_cd) of the images whose text matches any term, best first."""
    rows = await conn.fetch(
        _image_text_sql(by_posts=scope.by_posts),
        *scope.args,
        terms.include,
        terms.exclude,
        terms.langs,
        candidates,
    )
    return [(row["path"], float(row["rank"])) for row in rows]


async def image_vector_ranks(
    conn: asyncpg.Connection,
    scope: Scope,
    dims: int,
    query: Vector,
    candidates: int,
    *,
    exact: bool = False,
) -> list[tuple[str, float]]:
    """(path, cosine similarity) of the images nearest to `query`, best first: exactly when
    filtered or `exact` (few images), else by the revision's HNSW index."""
    rows = await conn.fetch(
        _image_vector_sql(dims, exact=scope.filtered or exact, by_posts=scope.by_posts),
        *scope.args,
        query,
        candidates,
    )
    return [(row["path"], 1.0 - float(row["distance"])) for row in rows]


async def image_rows(
    conn: asyncpg.Connection, scope: Scope, paths: list[str]
) -> dict[str, asyncpg.Record]:
    """Mime, size, alt texts, description, `has_thumbnail` and `posts` (a JSON array of
    {postId, title}) of each image, by path."""
    rows = await conn.fetch(_IMAGES_SQL, scope.site, scope.revision_id, paths)
    return {row["path"]: row for row in rows}
