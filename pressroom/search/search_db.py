"""Search a published `search.db` (pressroom/search/search_db_writer.py) without Postgres.

Answers like `SearchFile.search` (and so like `GET /search`): full text ranks with FTS5's
`bm25(entries_fts, 1.0, 0.4, 0.2)` (the A/B/C weights) over text analysed as search.json's
reader analyses it (same stems, same stop words, phrases, `-term`); vectors rank by cosine
(sqlite-vec's KNN picks the candidates, their similarity is then computed exactly as
search.json's reader computes it, so vector mode's order is the same); `hybrid` fuses both
with `pressroom.search.fusion`, the fusion every back end shares.

    with SearchDB.open("dist/r-123/search.db") as db:
        hits = db.search("deploy to s3", limit=5)

BM25 differs from search.json's in two details FTS5 fixes: a term in more than half the
entries weighs (almost) nothing, and length normalisation counts tokens unweighted; the
rankings agree closely, not exactly (tests/e2e/search/test_search_db.py measures it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np

from pressroom.db.rows import parse_timestamp
from pressroom.search.file import FIELD_WEIGHTS, Analyzer, query_terms, snippet
from pressroom.search.fusion import Fusion, Hit, fuse, fuse_images
from pressroom.search.hits import bounded, bounded_terms, image_links, post_fields
from pressroom.search.params import file_query_vector
from pressroom.search.search_db_writer import FORMAT
from pressroom.search.sqlite_driver import connect

__all__ = ["SearchDB"]

_WEIGHTS = ", ".join(str(w) for w in FIELD_WEIGHTS.values())
_TABLES = {"section": "vec_sections", "image": "vec_images"}


def _phrase(stems: Sequence[str]) -> str:
    # Stems are letters and digits; quoting keeps FTS5 from reading one as an operator.
    return '"' + " ".join(s.replace('"', '""') for s in stems) + '"'


def fts_query(include: Sequence[Sequence[str]], exclude: Sequence[Sequence[str]]) -> str:
    """The FTS5 query of analysed terms: phrases OR-ed, excluded ones NOT-ed."""
    query = " OR ".join(_phrase(p) for p in include)
    if exclude:
        query = f"({query}) NOT ({' OR '.join(_phrase(p) for p in exclude)})"
    return query


class SearchDB:
    """A read-only connection to one search.db."""

    def __init__(self, conn: Any, *, language: str = "english") -> None:
        self.conn = conn
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        if meta.get("format") != FORMAT:
            raise ValueError(f"not a pressroom search.db: format {meta.get('format')!r}")
        self.meta = meta
        self.site: str = meta.get("site", "")
        self.revision: str = meta.get("revision", "")
        self.embedding: dict[str, Any] | None = meta.get("embedding")
        self.analyzer = Analyzer(language)

    @classmethod
    def open(cls, path: str | Path) -> SearchDB:
        if not Path(path).is_file():
            raise FileNotFoundError(path)
        conn = connect(path, readonly=True)
        try:
            return cls(conn)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- ranking -----------------------------------------------------------------------

    def _text_ranked(
        self, kind: str, query: str, allowed: list[str] | None, candidates: int
    ) -> list[tuple[str, str | None, float]]:
        include, exclude = query_terms(self.analyzer, query)
        if not include:
            return []
        where, args = "", [fts_query(include, exclude), kind]
        if allowed is not None:
            where = " AND e.post_id IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(allowed))
        rows = self.conn.execute(
            f"""SELECT e.id, e.post_id, -bm25(entries_fts, {_WEIGHTS}) AS score
                FROM entries_fts JOIN entries AS e ON e.rowid = entries_fts.rowid
                WHERE entries_fts MATCH ? AND e.kind = ?{where}
                ORDER BY score DESC, e.id LIMIT ?""",  # noqa: S608 - fixed fragments
            [*args, candidates],
        ).fetchall()
        return [(r[0], r[1], float(r[2])) for r in rows]

    def _vector_ranked(
        self, kind: str, query_vector: np.ndarray, allowed: list[str] | None, candidates: int
    ) -> list[tuple[str, str | None, float]]:
        if self.embedding is None:
            return []
        q = np.asarray(query_vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        table = _TABLES[kind]
        if allowed is None:
            # KNN picks the candidates; the score is computed below as search.json's is.
            rows = self.conn.execute(
                f"""SELECT e.id, e.post_id, v.embedding
                    FROM (SELECT rowid, embedding FROM {table}
                          WHERE embedding MATCH ? AND k = ?) AS v
                    JOIN entries AS e ON e.rowid = v.rowid""",  # noqa: S608 - fixed names
                [q.astype("<f4").tobytes(), candidates],
            ).fetchall()
        else:
            rows = self.conn.execute(
                f"""SELECT e.id, e.post_id, v.embedding FROM {table} AS v
                    JOIN entries AS e ON e.rowid = v.rowid
                    WHERE e.post_id IN (SELECT value FROM json_each(?))""",  # noqa: S608 - fixed names
                [json.dumps(allowed)],
            ).fetchall()
        scored = [
            (r[0], r[1], float(np.frombuffer(r[2], dtype="<f4").astype(np.float32) @ q))
            for r in rows
        ]
        scored.sort(key=lambda t: (-t[2], t[0]))
        return scored[:candidates]

    def _allowed(
        self, tags: Iterable[str], date_from: datetime | None, date_to: datetime | None
    ) -> list[str] | None:
        """The posts the filters keep (any wanted tag, dated within [from, to)); None: all."""
        wanted = {t.lower() for t in tags}
        if not (wanted or date_from or date_to):
            return None
        kept = []
        for post_id, raw_tags, raw_date in self.conn.execute("SELECT id, tags, date FROM posts"):
            if wanted and not wanted & {t.lower() for t in json.loads(raw_tags or "[]")}:
                continue
            date = parse_timestamp(raw_date)
            if (date_from or date_to) and date is None:
                continue
            if date_from and date and date < date_from:
                continue
            if date_to and date and date >= date_to:
                continue
            kept.append(post_id)
        return kept

    # --- the query API -----------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 10,
        mode: str = "text",
        kind: str = "all",
        query_vector: np.ndarray | None = None,
        tags: Iterable[str] = (),
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        fusion: Fusion | None = None,
    ) -> dict[str, Any]:
        """Posts (grouped, with their best sections) and images, as `SearchFile.search`
        returns them. `mode` "vector"/"hybrid" need `query_vector`; `date_to` is exclusive."""
        vector = file_query_vector(query, mode, kind, limit, query_vector)
        fusion = fusion or Fusion()
        allowed = self._allowed(tags, date_from, date_to)
        text_wanted = mode != "vector"
        results: list[dict[str, Any]] = []
        if kind in ("all", "posts"):
            candidates = max(100, 10 * limit)
            text = self._text_ranked("section", query, allowed, candidates) if text_wanted else []
            vec = (
                self._vector_ranked("section", vector, allowed, candidates)
                if vector is not None
                else []
            )
            results = fuse(
                [Hit(i, p or i, s) for i, p, s in text],
                [Hit(i, p or i, s) for i, p, s in vec],
                fusion,
                limit,
            )
            self._decorate(results, query)
        found_images: list[dict[str, Any]] = []
        if kind in ("all", "images"):
            text = self._text_ranked("image", query, allowed, 100) if text_wanted else []
            vec = self._vector_ranked("image", vector, allowed, 100) if vector is not None else []
            found = fuse_images(
                [(i, s) for i, _, s in text],
                [(i, s) for i, _, s in vec],
                fusion,
                limit,
                vector_only=mode == "vector",
            )
            found_images = [self._image(hit.path, hit.score) for hit in found]
        return {
            "query": query,
            "site": self.site,
            "revision": self.revision,
            "mode": mode,
            "kind": kind,
            "limit": limit,
            "results": results,
            "images": found_images,
        }

    def _entry(self, where: str, *args: Any) -> dict[str, Any]:
        sql = f"SELECT * FROM entries WHERE {where} LIMIT 1"  # noqa: S608 - fixed conditions
        cursor = self.conn.execute(sql, args)
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))

    def _decorate(self, results: list[dict[str, Any]], query: str) -> None:
        include, _ = query_terms(self.analyzer, query)
        stems = {s for phrase in include for s in phrase}
        for result in results:
            # The post's first section entry carries its own fields, as in search.json.
            first = self._entry("post_id = ? AND kind = 'section' ORDER BY rowid", result["postId"])
            result.update(
                {
                    "title": bounded(first["title"], "title"),
                    **post_fields(
                        url=first["url"],
                        date=parse_timestamp(first["date"]),
                        updated=parse_timestamp(first["updated"]),
                        authors=json.loads(first["authors"] or "[]"),
                        summary=first["summary"],
                    ),
                    "tags": bounded_terms(json.loads(first["tags"] or "[]")),
                }
            )
            for section in result["sections"]:
                e = self._entry("id = ? AND kind = 'section'", section["sectionId"])
                plain, marked = snippet(self.analyzer, e["text"] or "", stems)
                section.update(
                    {"anchor": e["anchor"] or "", "heading": bounded(e["heading"], "heading"),
                     "snippet": plain, "snippetHtml": marked}
                )  # fmt: skip

    def _image(self, path: str, score: float) -> dict[str, Any]:
        e = self._entry("id = ? AND kind = 'image'", path)
        return {
            "path": path,
            **image_links(e["url"], e["published_url"]),
            "title": bounded(e["title"], "title"),
            "text": bounded(e["text"], "text"),
            "postId": e["post_id"],
            "score": score,
        }
