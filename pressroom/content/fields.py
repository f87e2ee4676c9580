"""Post fields from front matter: the usual keys of Jekyll, Hugo and friends read into
title, dates, authors, tags, categories, excerpt and draft state, with the fallbacks a
site generator uses (the first `#` heading for a title, the first paragraph for an excerpt).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from pressroom.content.render import RenderedMarkdown, render

__all__ = [
    "authors",
    "categories",
    "excerpt",
    "first_date",
    "is_draft",
    "iso_date",
    "tags",
    "text_of",
    "title_of",
]

EXCERPT_CHARS = 300
# Jekyll writes "2018-08-01 15:00:00 +0200", which YAML leaves as a string.
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%d %H:%M:%S.%f %z",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%d",  # one-digit months and days (`2024-4-09`), which fromisoformat refuses
    "%B %d, %Y",
    "%d %B %Y",
)


def authors(meta: dict[str, Any]) -> list[str]:
    """`author`, `authors` and `by` (the Go blog's): names, or the `name` (else `id`) of
    author objects."""
    return _unique(
        [*_people(meta.get("author")), *_people(meta.get("authors")), *_people(meta.get("by"))]
    )


def tags(meta: dict[str, Any]) -> list[str]:
    return _unique([*_one(meta.get("tag")), *_terms(meta.get("tags"))])


def categories(meta: dict[str, Any]) -> list[str]:
    return _unique([*_one(meta.get("category")), *_terms(meta.get("categories"))])


def text_of(value: Any) -> str:
    """A scalar front matter value as stripped text; "" for booleans, null and containers."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def title_of(meta: dict[str, Any], rendered: RenderedMarkdown, name_slug: str) -> str:
    """`title`, else the first `#` heading, else the file's slug in words."""
    title = text_of(meta.get("title"))
    if title:
        return title
    for section in rendered.sections:
        if section.level == 1 and section.heading:
            return section.heading
    words = re.sub(r"[-_\s]+", " ", name_slug).strip()
    return words[:1].upper() + words[1:] if words else name_slug


def iso_date(value: Any) -> str | None:
    """An ISO 8601 date or datetime from a front matter value, None if it is not one."""
    text = text_of(value)
    if not text or isinstance(value, int | float):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _DATE_FORMATS:
            try:
                parsed = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if ":" not in text:  # written as a date: do not invent a midnight
        return parsed.date().isoformat()
    return parsed.isoformat()


def first_date(meta: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        found = iso_date(meta.get(key))
        if found:
            return found
    return None


def _people(value: Any) -> list[str]:
    if isinstance(value, dict):  # {name: ..., url: ...} author objects
        return [name] if (name := text_of(value.get("name") or value.get("id"))) else []
    if isinstance(value, list):
        return [name for item in value for name in _people(item)]
    return [name] if (name := text_of(value)) else []


def _one(value: Any) -> list[str]:
    """Jekyll's singular `tag`/`category`: one term, never split."""
    return [term] if (term := text_of(value)) else []


def _terms(value: Any) -> list[str]:
    """A list, or a string separated by commas (else by spaces, as Jekyll allows)."""
    if isinstance(value, list):
        return [term for item in value if (term := text_of(item))]
    text = text_of(value)
    parts = text.split(",") if "," in text else text.split()
    return [part.strip() for part in parts if part.strip()]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def excerpt(
    meta: dict[str, Any], rendered: RenderedMarkdown, path: str, known_files: frozenset[str]
) -> str:
    written = text_of(meta.get("excerpt"))
    if written:  # an excerpt is Markdown too; keep its words, not its markup
        return _trim(render(written, post_path=path, known_files=known_files).text)
    return _trim(rendered.first_paragraph)


def _trim(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    cut = cut[: cut.rfind(" ")] if " " in cut else text[:limit]
    return cut.rstrip(" ,;:.-\u2013\u2014") + "\u2026"


def is_draft(meta: dict[str, Any], path: str) -> bool:
    draft = meta.get("draft")
    published = meta.get("published")
    return (
        draft is True
        or (isinstance(draft, str) and draft.strip().lower() in ("true", "yes"))
        or published is False
        or (isinstance(published, str) and published.strip().lower() in ("false", "no"))
        or "_drafts" in path.split("/")[:-1]
    )
