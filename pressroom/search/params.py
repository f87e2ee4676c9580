"""What a search may ask: the validated request (`SearchParams`), its limits, the errors a
search answers with (each naming the parameter and carrying its HTTP status), and the
websearch-style query split every back end shares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

__all__ = [
    "MAX_LIMIT",
    "EmbeddingMismatch",
    "SearchError",
    "SearchParams",
    "SiteNotFound",
    "check_request",
    "file_query_vector",
    "split_query",
]

MODES = ("hybrid", "text", "vector")
KINDS = ("all", "posts", "images")
MAX_LIMIT = 50
MAX_QUERY_CHARS = 500
MAX_QUERY_TERMS = 32
MAX_TAGS = 20


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


def check_request(query: str, mode: str, kind: str, limit: int) -> None:
    """What every back end requires (SearchError otherwise): a query, a known mode and kind,
    and a limit within 1..MAX_LIMIT."""
    if not query.strip():
        raise SearchError("the query is empty", parameter="q")
    if mode not in MODES:
        raise SearchError(f"mode must be one of {', '.join(MODES)}", parameter="mode")
    if kind not in KINDS:
        raise SearchError(f"kind must be one of {', '.join(KINDS)}", parameter="kind")
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}", parameter="limit")


T = TypeVar("T")


def file_query_vector(
    query: str, mode: str, kind: str, limit: int, query_vector: T | None
) -> T | None:
    """A static file's search (search.json, search.db), checked as the API checks one: the
    vector its mode ranks by (None for text), or SearchError; the caller embeds the query."""
    check_request(query, mode, kind, limit)
    if mode != "text" and query_vector is None:
        raise SearchError(f"mode {mode} needs a query vector", parameter="mode")
    return query_vector if mode != "text" else None


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
        check_request(self.query, self.mode, self.kind, self.limit)
        if len(self.query) > MAX_QUERY_CHARS:
            raise SearchError(f"the query is over {MAX_QUERY_CHARS} characters", parameter="q")
        if not self.site:
            raise SearchError("site is required", parameter="site")
        if len(self.tags) > MAX_TAGS:
            raise SearchError(f"at most {MAX_TAGS} tags", parameter="tags")
        if self.date_from and self.date_to and self.date_from >= self.date_to:
            raise SearchError("from must be before to", parameter="from")

    @property
    def filtered(self) -> bool:
        return bool(self.tags or self.date_from or self.date_to)


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
