"""Search a published `search.json` without the database (sites that publish static files).

Answers the same queries as `GET /search`, from the file alone: full text is BM25F over each
entry's title (weight 1.0), heading (0.4) and text (0.2), the weights of the database's
A/B/C ranks, with the Snowball stemmer and PostgreSQL's stop words, so "configured" finds
"configuration" here too; terms are OR-ed, `"quoted phrases"` must appear in order and
`-term` excludes. With a query vector (embedded by the caller with the file's
`embedding` provider/model/dimensions) entries also rank by cosine, and `hybrid` fuses both
lists by reciprocal rank fusion exactly as the API does (`pressroom.search.fusion`).

    index = SearchFile.load("dist/r-123/search.json")
    hits = index.search("deploy to s3", limit=5)

Hits are bounded like the API's (`pressroom.search.hits.HIT_CAPS`): titles, headings, tags, image
text and a snippet of about 30 words, never a whole field. A post hit carries the post's `url`,
`date`, `updated`, `authors` and `summary` (`hits.post_fields`), as the database's hits do.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import snowballstemmer

from pressroom.db.rows import parse_timestamp
from pressroom.publish.artifacts import decode_vector
from pressroom.search.fusion import Fusion, Hit, ImageHit, fuse, fuse_images
from pressroom.search.hits import HIT_CAPS, bounded, bounded_terms, image_links, post_fields
from pressroom.search.params import file_query_vector, split_query

__all__ = [
    "FIELD_WEIGHTS",
    "STOPWORDS",
    "Analyzer",
    "Entry",
    "SearchFile",
    "bounded_word",
    "query_terms",
    "snippet",
]

FIELD_WEIGHTS = {"title": 1.0, "heading": 0.4, "text": 0.2}
_K1, _B = 1.2, 0.75
_SNIPPET_WORDS = 30
_SNIPPET_WORD_CHARS = 60  # a longer "word" (a URL, a run of letters) is cut in the snippet

# PostgreSQL's english.stop (the Snowball English stop list).
STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about
    against between into through during before after above below to from up down in out on
    off over under again further then once here there when where why how all any both each
    few more most other some such no nor not only own same so than too very s t can will just
    don should now""".split()
)
# Letters and digits; like PostgreSQL's parser, an apostrophe splits ("don't": don, t).
_WORD = re.compile(r"[^\W_]+")


class Analyzer:
    """Lower-case words, stop words dropped, Snowball-stemmed (cached per word)."""

    def __init__(self, language: str = "english") -> None:
        self.stemmer = snowballstemmer.stemmer(language)
        self.stopwords = STOPWORDS if language == "english" else frozenset()
        self._cache: dict[str, str] = {}

    def stem(self, word: str) -> str:
        stem = self._cache.get(word)
        if stem is None:
            stem = self._cache[word] = self.stemmer.stemWord(word)
        return stem

    def tokens(self, text: str) -> list[str]:
        """Stems in order; a stop word leaves an empty slot so phrases keep their positions."""
        out = []
        for match in _WORD.finditer(text.lower()):
            word = match.group()
            out.append("" if word in self.stopwords else self.stem(word))
        return out


@dataclass
class Entry:
    kind: str
    id: str
    post_id: str | None
    title: str
    heading: str
    text: str
    anchor: str
    url: str
    tags: list[str]
    date: datetime | None
    vector: np.ndarray | None
    # The post's own fields: on its first section entry (older files: none).
    updated: datetime | None = None
    authors: list[str] = field(default_factory=list)
    summary: str = ""
    published_url: str = ""  # an image's copy in the artifact store
    fields: dict[str, list[str]] = field(default_factory=dict)  # stems per field
    tf: Counter[str] = field(default_factory=Counter)  # field-weighted term frequency
    length: float = 0.0  # field-weighted length


class SearchFile:
    """An in-memory index over one search.json document."""

    def __init__(self, document: Mapping[str, Any], *, language: str = "english") -> None:
        if document.get("format") != "pressroom.search/1":
            raise ValueError(f"not a pressroom search.json: format {document.get('format')!r}")
        self.site: str = document.get("site", "")
        self.revision: str = document.get("revision", "")
        self.embedding: dict[str, Any] | None = document.get("embedding")
        self.analyzer = Analyzer(language)
        self.entries = [self._entry(raw) for raw in document.get("entries", [])]
        self.df: Counter[str] = Counter()
        for e in self.entries:
            self.df.update(e.tf.keys())
        self.posts = [e for e in self.entries if e.kind == "section"]
        # Each post's first section entry: where its own fields (url, dates, authors,
        # summary) are, and what the filters test.
        self.post_entries: dict[str, Entry] = {}
        for e in self.posts:
            self.post_entries.setdefault(e.post_id or e.id, e)
        self.images = [e for e in self.entries if e.kind == "image"]
        self._avg = {
            kind: (sum(e.length for e in group) / len(group)) if group else 1.0
            for kind, group in (("section", self.posts), ("image", self.images))
        }

    @classmethod
    def load(cls, path: str | Path, *, language: str = "english") -> SearchFile:
        with Path(path).open(encoding="utf-8") as fh:
            return cls(json.load(fh), language=language)

    def _entry(self, raw: Mapping[str, Any]) -> Entry:
        vector = raw.get("vector")
        entry = Entry(
            kind=raw["kind"],
            id=raw["id"],
            post_id=raw.get("post_id"),
            title=raw.get("title") or "",
            heading=raw.get("heading") or "",
            text=raw.get("text") or "",
            anchor=raw.get("anchor") or "",
            url=raw.get("url") or "",
            tags=list(raw.get("tags") or []),
            date=parse_timestamp(raw.get("date")),
            vector=decode_vector(vector) if vector else None,
            updated=parse_timestamp(raw.get("updated")),
            authors=[str(a) for a in raw.get("authors") or []],
            summary=raw.get("summary") or "",
            published_url=raw.get("published_url") or "",
        )
        for name in FIELD_WEIGHTS:
            entry.fields[name] = self.analyzer.tokens(getattr(entry, name))
        for name, weight in FIELD_WEIGHTS.items():
            stems = [s for s in entry.fields[name] if s]
            entry.length += weight * len(stems)
            for stem in stems:
                entry.tf[stem] += weight
        return entry

    # --- query parsing and scoring ---------------------------------------------------

    def _terms(self, query: str) -> tuple[list[list[str]], list[list[str]]]:
        return query_terms(self.analyzer, query)

    @staticmethod
    def _has_phrase(entry: Entry, phrase: list[str]) -> bool:
        if len(phrase) == 1:
            return phrase[0] in entry.tf
        for tokens in entry.fields.values():
            seq = [t for t in tokens if t]  # stop words do not break a phrase
            n = len(phrase)
            if any(seq[i : i + n] == phrase for i in range(len(seq) - n + 1)):
                return True
        return False

    def _bm25(self, entry: Entry, terms: list[list[str]], avg: float, n: int) -> float:
        score = 0.0
        for phrase in terms:
            if not self._has_phrase(entry, phrase):
                continue
            for stem in phrase:
                tf = entry.tf[stem]
                df = self.df[stem]
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf * (_K1 + 1) / (tf + _K1 * (1 - _B + _B * entry.length / avg))
        return score

    def _text_ranked(
        self, entries: Sequence[Entry], query: str, candidates: int
    ) -> list[tuple[Entry, float]]:
        include, exclude = self._terms(query)
        if not include:
            return []
        avg = self._avg[entries[0].kind] if entries else 1.0
        scored = []
        for entry in entries:
            if any(self._has_phrase(entry, p) for p in exclude):
                continue
            s = self._bm25(entry, include, avg, len(self.entries))
            if s > 0:
                scored.append((entry, s))
        scored.sort(key=lambda pair: (-pair[1], pair[0].id))
        return scored[:candidates]

    @staticmethod
    def _vector_ranked(
        entries: Sequence[Entry], query_vector: np.ndarray, candidates: int
    ) -> list[tuple[Entry, float]]:
        q = np.asarray(query_vector, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        scored = [(e, float(e.vector @ q)) for e in entries if e.vector is not None]
        scored.sort(key=lambda pair: (-pair[1], pair[0].id))
        return scored[:candidates]

    # --- the query API ---------------------------------------------------------------

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
        """Posts (grouped, with their best sections) and images, as `GET /search` returns
        them. `mode` "vector"/"hybrid" need `query_vector`; `date_to` is exclusive."""
        vector = file_query_vector(query, mode, kind, limit, query_vector)
        fusion = fusion or Fusion()
        posts, images = self._filtered({t.lower() for t in tags}, date_from, date_to)
        text_wanted = mode != "vector"
        results: list[dict[str, Any]] = []
        if kind in ("all", "posts"):
            candidates = max(100, 10 * limit)
            text = self._text_ranked(posts, query, candidates) if text_wanted else []
            vec = self._vector_ranked(posts, vector, candidates) if vector is not None else []
            results = fuse(
                [Hit(e.id, e.post_id or e.id, s) for e, s in text],
                [Hit(e.id, e.post_id or e.id, s) for e, s in vec],
                fusion,
                limit,
            )
            self._decorate(results, query)
        found_images: list[dict[str, Any]] = []
        if kind in ("all", "images"):
            text = self._text_ranked(images, query, 100) if text_wanted else []
            vec = self._vector_ranked(images, vector, 100) if vector is not None else []
            found = fuse_images(
                [(e.id, s) for e, s in text],
                [(e.id, s) for e, s in vec],
                fusion,
                limit,
                vector_only=mode == "vector",
            )
            found_images = _image_entries(images, found)
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

    def _filtered(
        self, wanted: set[str], date_from: datetime | None, date_to: datetime | None
    ) -> tuple[list[Entry], list[Entry]]:
        """(sections, images) of the posts with any `wanted` tag dated within
        [date_from, date_to); with no filter, all of them."""
        by_post = self.post_entries

        def keep(post: Entry) -> bool:
            if wanted and not wanted & {t.lower() for t in post.tags}:
                return False
            if (date_from or date_to) and post.date is None:
                return False
            if date_from and post.date and post.date < date_from:
                return False
            return not (date_to and post.date and post.date >= date_to)

        posts = [e for e in self.posts if keep(by_post[e.post_id or e.id])]
        allowed = {e.post_id for e in posts}
        images = [
            e for e in self.images if not (wanted or date_from or date_to) or e.post_id in allowed
        ]
        return posts, images

    def _decorate(self, results: list[dict[str, Any]], query: str) -> None:
        include, _ = self._terms(query)
        stems = {s for phrase in include for s in phrase}
        entries = {e.id: e for e in self.posts}
        for result in results:
            first = self.post_entries[result["postId"]]
            result.update(
                {
                    "title": bounded(first.title, "title"),
                    **post_fields(
                        url=first.url,
                        date=first.date,
                        updated=first.updated,
                        authors=first.authors,
                        summary=first.summary,
                    ),
                    "tags": bounded_terms(first.tags),
                }
            )
            for section in result["sections"]:
                e = entries[section["sectionId"]]
                plain, marked = self._snippet(e.text, stems)
                section.update(
                    {"anchor": e.anchor, "heading": bounded(e.heading, "heading"),
                     "snippet": plain, "snippetHtml": marked}
                )  # fmt: skip

    def _snippet(self, text: str, stems: set[str]) -> tuple[str, str]:
        return snippet(self.analyzer, text, stems)


def snippet(analyzer: Analyzer, text: str, stems: set[str]) -> tuple[str, str]:
    """About 30 words around the first matched term: (plain, HTML with <mark>)."""
    words = list(re.finditer(r"\S+", text))
    hits = [
        i
        for i, w in enumerate(words)
        if any(analyzer.stem(t) in stems for t in _WORD.findall(w.group().lower()))
    ]
    start = max(0, (hits[0] if hits else 0) - _SNIPPET_WORDS // 3)
    window: list[str] = []
    visible = 0
    for w in words[start : start + _SNIPPET_WORDS]:
        word = bounded_word(w.group())
        if window and visible + 1 + len(word) > HIT_CAPS["snippet"]:
            break
        window.append(word)
        visible += len(word) + (1 if len(window) > 1 else 0)
    plain = " ".join(window)
    marked = " ".join(
        f"<mark>{html.escape(word)}</mark>" if start + i in hits else html.escape(word)
        for i, word in enumerate(window)
    )
    return plain, marked


def query_terms(analyzer: Analyzer, query: str) -> tuple[list[list[str]], list[list[str]]]:
    """(OR-ed terms, excluded terms), each a phrase of stems (one stem for a word)."""
    include, exclude = split_query(query)

    def stems(term: str) -> list[str]:
        return [s for s in analyzer.tokens(term.strip('"')) if s]

    return [p for p in map(stems, include) if p], [p for p in map(stems, exclude) if p]


def _image_entries(images: Sequence[Entry], found: Sequence[ImageHit]) -> list[dict[str, Any]]:
    entries = {e.id: e for e in images}
    return [
        {
            "path": hit.path,
            **image_links(entries[hit.path].url, entries[hit.path].published_url),
            "title": bounded(entries[hit.path].title, "title"),
            "text": bounded(entries[hit.path].text, "text"),
            "postId": entries[hit.path].post_id,
            "score": hit.score,
        }
        for hit in found
    ]


def bounded_word(word: str) -> str:
    """One snippet word within _SNIPPET_WORD_CHARS characters."""
    if len(word) <= _SNIPPET_WORD_CHARS:
        return word
    return word[: _SNIPPET_WORD_CHARS - 1] + "\u2026"
