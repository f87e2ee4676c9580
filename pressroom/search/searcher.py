"""Search over a site's current revision: full text, vector and hybrid, grouped by post.

Owns the search SQL and the fusion; no HTTP here (the API in `api/search.py` and the
`pressroom search` command both call `Searcher.search`).

- **Full text**: every section is stemmed in its post's language (`sections.lang`). A query
  is parsed like `websearch_to_tsquery` (quoted phrases, `-word` exclusions) but its terms are
  OR-ed, so a long natural question still matches; sections rank by `ts_rank_cd` (title
  weight A above heading B above body C), which rewards holding more of the terms, closer.
- **Vector**: cosine distance to the query embedded with the revision's own provider, model
  and dimensions (HNSW index, exact scan when filtered or when the index comes up short).
- **Hybrid**: reciprocal rank fusion, score = sum over lists of weight / (k + rank), at the
  post level (a post's rank in a list is the rank of its best section); each post then shows
  its best sections by the same fusion at the section level.
- **Images**: alt text, description and file name (full text) plus media vectors; a vector
  hit without any text match needs `image_min_similarity`.
- **Bounded hits**: every field a hit repeats (title, description, heading, tags, snippet,
  alt texts) is cut to HIT_CAPS, so one oversized post never makes every answer large.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np
from pgvector import Vector

from pressroom.embeddings.base import Embedder
from pressroom.publish.artifacts import trim_text

MODES = ("hybrid", "text", "vector")
KINDS = ("all", "posts", "images")
MAX_LIMIT = 50
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_TAGS = 20
SECTIONS_PER_POST = 3

# Candidates each list contributes before fusion: enough that a post ranked low in one list
# but high in the other still meets itself.
_MIN_CANDIDATES = 100
_CANDIDATES_PER_RESULT = 10
# HNSW yields at most ef_search rows before the site/revision filter (pgvector 0.6).
_EF_SEARCH_MAX = 1000
# ts_rank_cd normalisation 1: divide by 1 + log(length), so a long section does not win on
# term count alone.
_RANK_NORMALIZATION = 1

# Highlight markers from ts_headline: private-use characters that never occur in posts, so
# the snippet can be HTML-escaped first and marked up after.
MARK_START, MARK_STOP = "\ue000", "\ue001"
_HEADLINE_OPTIONS = (
    f'StartSel="{MARK_START}", StopSel="{MARK_STOP}", MaxWords=30, MinWords=12, '
    "MaxFragments=2, FragmentDelimiter=\" … \""
)
_PLAIN_SNIPPET_CHARS = 280  # then trimmed to 240 at a word boundary

# What one hit carries at most, whatever the database holds (a revision parsed before the
# parse step's field caps, a hostile value, a "word" of a megabyte in a headline): each
# field is cut at a word boundary and marked with "…" (see `bounded`).
HIT_CAPS = {
    "title": 300,
    "description": 500,
    "heading": 300,
    "snippet": 400,  # visible characters, highlight markers excluded
    "tag": 100,
    "tags": 20,
    "alt": 300,
    "alts": 10,
    "posts": 20,
    "text": 1000,  # an image entry's text in search_file hits
}

# PostgreSQL's built-in text-search configurations (pg_ts_config of PostgreSQL 16).
TS_CONFIGS = frozenset(
    """simple arabic armenian basque catalan danish dutch english finnish french german greek
    hindi hungarian indonesian irish italian lithuanian nepali norwegian portuguese romanian
    russian serbian spanish swedish tamil turkish yiddish""".split()
)
# ISO 639-1 codes (what `lang` front matter usually holds) -> configuration.
_ISO_639_1 = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish",
    "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french", "de": "german",
    "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "nn": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip


def ts_config_for(lang: object, default: str = "english") -> str:
    """The text-search configuration for a `lang` value: `fr`, `fr-FR`, `fr_CA`, `French` and
    `french` all give `french`; anything unknown (or empty) gives `default`."""
    return _resolve_lang(lang) or _resolve_lang(default) or "english"


def _resolve_lang(lang: object) -> str | None:
    if not isinstance(lang, str) or not lang.strip():
        return None
    name = lang.strip().lower()
    if name in TS_CONFIGS:
        return name
    return _ISO_639_1.get(re.split(r"[-_]", name, maxsplit=1)[0])


def post_ts_config(front_matter: Mapping[str, Any], default: str = "english") -> str:
    """A post's configuration from its `lang` (or `language`) front matter, else `default`."""
    return ts_config_for(front_matter.get("lang") or front_matter.get("language"), default)


class SearchError(Exception):
    """A search that cannot run; `parameter` names the offending input, `status` its HTTP code."""

    status = 400

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.parameter:
            out["parameter"] = self.parameter
        return out


class SiteNotFound(SearchError):
    status = 404


class EmbeddingMismatch(SearchError):
    """The site's revision was embedded with another provider/model/dimension count."""

    status = 409


@dataclass(frozen=True)
class SearchParams:
    """One validated search. `date_to` is exclusive (a date-only `to` means its whole day)."""

    query: str
    site: str
    mode: str = "hybrid"
    kind: str = "all"
    limit: int = 10
    tags: tuple[str, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None

    def __post_init__(self) -> None:
        if not self.query.strip():
            raise SearchError("the query is empty", parameter="q")
        if len(self.query) > MAX_QUERY_CHARS:
            raise SearchError(f"the query is over {MAX_QUERY_CHARS} characters", parameter="q")
        if not self.site:
            raise SearchError("site is required", parameter="site")
        if self.mode not in MODES:
            raise SearchError(f"mode must be one of {', '.join(MODES)}", parameter="mode")
        if self.kind not in KINDS:
            raise SearchError(f"kind must be one of {', '.join(KINDS)}", parameter="kind")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise SearchError(f"limit must be between 1 and {MAX_LIMIT}", parameter="limit")
        if len(self.tags) > MAX_TAGS:
            raise SearchError(f"at most {MAX_TAGS} tags", parameter="tags")
        if self.date_from and self.date_to and self.date_from >= self.date_to:
            raise SearchError("from must be before to", parameter="from")

    @property
    def filtered(self) -> bool:
        return bool(self.tags or self.date_from or self.date_to)


@dataclass(frozen=True)
class Fusion:
    """Reciprocal rank fusion settings: score = sum of weight / (k + rank) over the lists."""

    k: int = 60
    text_weight: float = 1.0
    vector_weight: float = 1.0
    # A vector-only image hit (no text match) needs at least this cosine similarity.
    image_min_similarity: float = 0.2


_TERM = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')


def split_query(query: str) -> tuple[list[str], list[str]]:
    """(terms to OR together, terms to exclude), websearch style: `"quoted phrase"` stays one
    term, a leading `-` excludes, the word `or` is dropped (terms are OR-ed anyway)."""
    include: list[str] = []
    exclude: list[str] = []
    for m in _TERM.finditer(query):
        negated, phrase, word_negated, word = m.groups()
        if phrase is not None:
            term, out = f'"{phrase.strip()}"', exclude if negated else include
            if not phrase.strip():
                continue
        else:
            term, out = word, exclude if word_negated and len(word) > 0 else include
            if word.lower() == "or" or not any(ch.isalnum() for ch in word):
                continue
        if len(include) + len(exclude) < MAX_QUERY_TERMS:
            out.append(term)
    return include, exclude


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
    d = _check_dims(dims)
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
    d = _check_dims(dims)
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


def _check_dims(dims: object) -> int:
    if type(dims) is not int or not 0 < dims <= 16_000:
        raise ValueError(f"dimensions must be a positive int, got {dims!r}")
    return dims


# --- fusion --------------------------------------------------------------------------------


@dataclass
class Ranked:
    """A list's ranks: items in order, each with its 1-based rank and raw score."""

    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, score: float) -> None:
        if key not in self.ranks:
            self.ranks[key] = len(self.ranks) + 1
            self.scores[key] = score


def rrf(ranks: Sequence[tuple[int | None, float]], k: int) -> float:
    return sum(weight / (k + rank) for rank, weight in ranks if rank is not None)


@dataclass(frozen=True)
class Hit:
    section_id: str
    post_id: str
    score: float  # ts_rank_cd for text, cosine similarity for vectors


def fuse(
    text: Sequence[Hit], vector: Sequence[Hit], fusion: Fusion, limit: int
) -> list[dict[str, Any]]:
    """Posts ranked by RRF over the two lists (post rank = rank of its best section), each
    with its best sections by RRF over the section ranks. Pure; used by `Searcher.search`."""
    sec_t, sec_v, post_t, post_v = Ranked(), Ranked(), Ranked(), Ranked()
    post_of: dict[str, str] = {}
    for hit in text:
        sec_t.add(hit.section_id, hit.score)
        post_t.add(hit.post_id, hit.score)
        post_of[hit.section_id] = hit.post_id
    for hit in vector:
        sec_v.add(hit.section_id, hit.score)
        post_v.add(hit.post_id, hit.score)
        post_of[hit.section_id] = hit.post_id
    k, wt, wv = fusion.k, fusion.text_weight, fusion.vector_weight

    def post_score(post: str) -> float:
        return rrf([(post_t.ranks.get(post), wt), (post_v.ranks.get(post), wv)], k)

    def section_score(section: str) -> float:
        return rrf([(sec_t.ranks.get(section), wt), (sec_v.ranks.get(section), wv)], k)

    posts = sorted(set(post_t.ranks) | set(post_v.ranks), key=lambda p: (-post_score(p), p))
    sections_of: dict[str, list[str]] = {}
    for section in sorted(post_of, key=lambda s: (-section_score(s), s)):
        sections_of.setdefault(post_of[section], []).append(section)
    out = []
    for post in posts[:limit]:
        out.append(
            {
                "postId": post,
                "score": post_score(post),
                "scores": _breakdown(post, post_t, post_v),
                "sections": [
                    {
                        "sectionId": s,
                        "score": section_score(s),
                        "scores": _breakdown(s, sec_t, sec_v),
                    }
                    for s in sections_of[post][:SECTIONS_PER_POST]
                ],
            }
        )
    return out


def _breakdown(key: str, text: Ranked, vector: Ranked) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if key in text.ranks:
        out["text"] = {"rank": text.ranks[key], "score": round(text.scores[key], 6)}
    if key in vector.ranks:
        out["vector"] = {"rank": vector.ranks[key], "similarity": round(vector.scores[key], 6)}
    return out


# --- snippets ------------------------------------------------------------------------------


def snippet_html(snippet: str) -> str:
    """HTML-escaped snippet with the matched terms in <mark>."""
    escaped = html.escape(snippet, quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")


def snippet_text(snippet: str) -> str:
    """The snippet without highlight markers."""
    return snippet.replace(MARK_START, "").replace(MARK_STOP, "")


def bounded(text: str | None, field: str) -> str:
    """`text` within HIT_CAPS[field] characters ("" for None)."""
    return trim_text(text or "", HIT_CAPS[field])


def bounded_terms(values: Sequence[Any], each: str = "tag", count: str = "tags") -> list[str]:
    """At most HIT_CAPS[count] strings of at most HIT_CAPS[each] characters."""
    return [bounded(str(v), each) for v in list(values)[: HIT_CAPS[count]]]


def bounded_snippet(snippet: str, limit: int | None = None) -> str:
    """A marked snippet cut to `limit` visible characters (HIT_CAPS["snippet"]), a
    highlight left open by the cut closed again, so `snippet_html` stays balanced."""
    limit = HIT_CAPS["snippet"] if limit is None else limit
    if len(snippet) <= limit or len(snippet_text(snippet)) <= limit:
        return snippet
    out: list[str] = []
    visible = 0
    open_mark = False
    for ch in snippet:
        if ch in (MARK_START, MARK_STOP):
            open_mark = ch == MARK_START
            out.append(ch)
            continue
        if visible >= limit - 1:
            break
        out.append(ch)
        visible += 1
    cut = "".join(out).rstrip()
    if open_mark:
        cut += MARK_STOP
    return cut + "\u2026"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --- the searcher --------------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    site: str
    revision_id: str
    provider: str
    model: str
    dimensions: int


async def current_revision(conn: asyncpg.Connection, site: str) -> Revision:
    """The site's current revision and its embedding identity; SiteNotFound otherwise."""
    row = await conn.fetchrow(
        """
        SELECT r.revision_id, r.embedding_provider, r.embedding_model, r.dimensions
        FROM sites AS s
        JOIN revisions AS r ON r.site_id = s.site_id AND r.revision_id = s.current_revision
        WHERE s.site_id = $1
        """,
        site,
    )
    if row is None:
        raise SiteNotFound(f"no site {site!r} (or it has no loaded revision)", parameter="site")
    return Revision(
        site, row["revision_id"], row["embedding_provider"], row["embedding_model"],
        row["dimensions"],
    )  # fmt: skip


class Searcher:
    """Runs searches with one embedder and fusion setting; holds no connection of its own."""

    def __init__(self, embedder: Embedder | None, fusion: Fusion | None = None) -> None:
        self.embedder = embedder
        self.fusion = fusion or Fusion()
        # Languages per (site, revision): a loaded revision never changes, so never stale.
        self._langs: dict[tuple[str, str], list[str]] = {}

    def _embedder_matches(self, revision: Revision) -> str | None:
        """None when the query can be embedded like the revision, else the reason not."""
        e = self.embedder
        if e is None:
            return "no embedder is configured for queries"
        if (e.provider, e.model, e.dimensions) != (
            revision.provider,
            revision.model,
            revision.dimensions,
        ):
            return (
                f"site {revision.site!r} was embedded with {revision.provider}/{revision.model}"
                f" ({revision.dimensions} dimensions); queries here embed with "
                f"{e.provider}/{e.model} ({e.dimensions} dimensions)"
            )
        return None

    async def _languages(self, conn: asyncpg.Connection, revision: Revision) -> list[str]:
        key = (revision.site, revision.revision_id)
        if key not in self._langs:
            rows = await conn.fetch(
                "SELECT DISTINCT lang FROM sections WHERE site_id = $1 AND revision_id = $2",
                revision.site,
                revision.revision_id,
            )
            if len(self._langs) > 1000:
                self._langs.clear()
            self._langs[key] = sorted(r["lang"] for r in rows) or ["english"]
        return self._langs[key]

    async def search(
        self, conn: asyncpg.Connection, params: SearchParams, *, raw_snippets: bool = False
    ) -> dict[str, Any]:
        """Run one search; the JSON-ready response (see the README's Search section).
        `raw_snippets` adds each section's `rawSnippet`, with MARK_START/MARK_STOP markers."""
        # One snapshot for the revision lookup and every query.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            body = await self._search(conn, params)
        if not raw_snippets:
            for result in body["results"]:
                for section in result["sections"]:
                    section.pop("rawSnippet", None)
        return body

    async def _search(self, conn: asyncpg.Connection, params: SearchParams) -> dict[str, Any]:
        revision = await current_revision(conn, params.site)
        warnings: list[str] = []
        mode = params.mode
        vector: np.ndarray | None = None
        if mode in ("hybrid", "vector"):
            mismatch = self._embedder_matches(revision)
            if mismatch and mode == "vector":
                raise EmbeddingMismatch(mismatch, parameter="mode")
            if mismatch:
                warnings.append(f"{mismatch}: text search only")
                mode = "text"
            else:
                assert self.embedder is not None  # noqa: S101 - checked by _embedder_matches
                vector = (await self.embedder.embed([params.query]))[0]
        terms, exclude = split_query(params.query)
        langs = await self._languages(conn, revision)
        filters = (
            [t.lower() for t in params.tags] or None,
            params.date_from,
            params.date_to,
        )
        base = (revision.site, revision.revision_id, *filters)
        text_args = (*base, terms, exclude, langs)
        candidates = max(_MIN_CANDIDATES, _CANDIDATES_PER_RESULT * params.limit)
        qvec = None if vector is None else Vector(np.asarray(vector, dtype=np.float32))

        results: list[dict[str, Any]] = []
        if params.kind in ("all", "posts"):
            text_hits: list[Hit] = []
            vector_hits: list[Hit] = []
            if mode in ("hybrid", "text") and terms:
                rows = await conn.fetch(_TEXT_SQL, *text_args, candidates)
                text_hits = [Hit(r["section_id"], r["post_id"], r["rank"]) for r in rows]
            if qvec is not None:
                vector_hits = await self._vector_hits(
                    conn, revision, params, base, qvec, candidates
                )
            results = fuse(text_hits, vector_hits, self.fusion, params.limit)
            await self._decorate(conn, revision, results, terms, exclude, langs)

        images: list[dict[str, Any]] = []
        if params.kind in ("all", "images"):
            images = await self._images(conn, revision, params, mode, text_args, base, qvec)

        return {
            "query": params.query,
            "site": revision.site,
            "revision": revision.revision_id,
            "mode": params.mode,
            "modeUsed": mode,
            "kind": params.kind,
            "limit": params.limit,
            "filters": {
                "tags": list(params.tags),
                "from": _iso(params.date_from),
                "to": _iso(params.date_to),
            },
            "fusion": {
                "k": self.fusion.k,
                "textWeight": self.fusion.text_weight,
                "vectorWeight": self.fusion.vector_weight,
            },
            "embedding": {
                "provider": revision.provider,
                "model": revision.model,
                "dimensions": revision.dimensions,
            },
            "results": results,
            "images": images,
            "warnings": warnings,
        }

    async def _vector_hits(
        self,
        conn: asyncpg.Connection,
        revision: Revision,
        params: SearchParams,
        base: tuple[Any, ...],
        qvec: Vector,
        candidates: int,
    ) -> list[Hit]:
        rows: list[asyncpg.Record] = []
        if not params.filtered:
            ef = str(min(_EF_SEARCH_MAX, max(candidates, 100)))
            await conn.execute("SELECT set_config('hnsw.ef_search', $1, true)", ef)
            sql = _vector_sql(revision.dimensions, exact=False)
            rows = await conn.fetch(sql, *base, qvec, candidates)
        if len(rows) < candidates:
            # Filtered, or HNSW came up short (other sites' rows crowd its candidates, or
            # the revision is small): an exact scan of this revision is cheap and complete.
            sql = _vector_sql(revision.dimensions, exact=True)
            rows = await conn.fetch(sql, *base, qvec, candidates)
        return [Hit(r["section_id"], r["post_id"], 1.0 - float(r["distance"])) for r in rows]

    async def _decorate(
        self,
        conn: asyncpg.Connection,
        revision: Revision,
        results: list[dict[str, Any]],
        terms: list[str],
        exclude: list[str],
        langs: list[str],
    ) -> None:
        """Add post metadata and each section's heading, anchor and highlighted snippet."""
        if not results:
            return
        section_ids = [s["sectionId"] for r in results for s in r["sections"]]
        site, rev = revision.site, revision.revision_id
        details = {
            row["section_id"]: row
            for row in await conn.fetch(
                _DETAILS_SQL, site, rev, section_ids, terms, exclude, langs, _HEADLINE_OPTIONS,
            )
        }  # fmt: skip
        posts = {
            row["post_id"]: row
            for row in await conn.fetch(_POSTS_SQL, site, rev, [r["postId"] for r in results])
        }
        for result in results:
            post = posts[result["postId"]]
            result.update(
                {
                    "title": bounded(post["title"], "title"),
                    "slug": post["slug"],
                    "path": post["path"],
                    "date": _iso(post["date"]),
                    "tags": bounded_terms(post["tags"]),
                    "description": bounded(post["description"], "description"),
                    "permalink": post["permalink"],
                }
            )
            for section in result["sections"]:
                row = details[section["sectionId"]]
                # A match in the title or heading alone leaves the body unmarked: then the
                # section's opening says more than ts_headline's first dozen words.
                headline = row["headline"] or ""
                snippet = headline if MARK_START in headline else trim_text(row["plain"], 240)
                # ts_headline counts words, and one "word" can be a megabyte long.
                snippet = bounded_snippet(snippet)
                section.update(
                    {
                        "anchor": row["anchor"],
                        "heading": bounded(row["heading"], "heading"),
                        "level": row["level"],
                        "lang": row["lang"],
                        "snippet": snippet_text(snippet),
                        "snippetHtml": snippet_html(snippet),
                        "rawSnippet": snippet,
                    }
                )

    async def _images(
        self,
        conn: asyncpg.Connection,
        revision: Revision,
        params: SearchParams,
        mode: str,
        text_args: tuple[Any, ...],
        base: tuple[Any, ...],
        qvec: Vector | None,
    ) -> list[dict[str, Any]]:
        candidates = max(_MIN_CANDIDATES, _CANDIDATES_PER_RESULT * params.limit)
        text, vector = Ranked(), Ranked()
        if mode in ("hybrid", "text") and text_args[5]:
            for row in await conn.fetch(_IMAGE_TEXT_SQL, *text_args, candidates):
                text.add(row["path"], float(row["rank"]))
        if qvec is not None:
            sql = _image_vector_sql(revision.dimensions)
            for row in await conn.fetch(sql, *base, qvec, candidates):
                similarity = 1.0 - float(row["distance"])
                # In vector mode there is nothing else to go by; otherwise a weak vector hit
                # alone is noise next to text matches.
                if mode == "vector" or similarity >= self.fusion.image_min_similarity:
                    vector.add(row["path"], similarity)
        f = self.fusion

        def score(path: str) -> float:
            ranks = [
                (text.ranks.get(path), f.text_weight),
                (vector.ranks.get(path), f.vector_weight),
            ]
            return rrf(ranks, f.k)

        paths = sorted(set(text.ranks) | set(vector.ranks), key=lambda p: (-score(p), p))
        paths = paths[: params.limit]
        if not paths:
            return []
        rows = {
            r["path"]: r
            for r in await conn.fetch(_IMAGES_SQL, revision.site, revision.revision_id, paths)
        }
        out = []
        for path in paths:
            row = rows[path]
            out.append(
                {
                    "path": path,
                    "mime": row["mime"],
                    "width": row["width"],
                    "height": row["height"],
                    "alt": bounded_terms(row["alt_texts"], "alt", "alts"),
                    "description": bounded(row["description"], "description"),
                    "posts": [
                        {**p, "title": bounded(p.get("title"), "title")}
                        if isinstance(p, dict)
                        else p
                        for p in _json_list(row["posts"])[: HIT_CAPS["posts"]]
                    ],
                    "thumbnail": row["has_thumbnail"],
                    "score": score(path),
                    "scores": _breakdown(path, text, vector),
                }
            )
        return out


def _json_list(text: str) -> list[Any]:
    value = json.loads(text)
    return value if isinstance(value, list) else []
