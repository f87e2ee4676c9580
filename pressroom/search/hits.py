"""What one hit carries: the caps on every repeated field and the highlighted snippets.

Every field a hit repeats (title, description, summary, heading, tags, authors, snippet, alt
texts) is cut to HIT_CAPS, and an over-long permalink or URL dropped, so one oversized post
never makes every answer large. `post_fields` is the part of a post every answer about it
carries (a search hit of any back end, a related post, the reader): its public URL, dates,
authors and summary, bounded the same way everywhere.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pressroom.publish.artifacts import trim_text

__all__ = [
    "HIT_CAPS",
    "MARK_START",
    "MARK_STOP",
    "bounded",
    "bounded_snippet",
    "bounded_terms",
    "bounded_url",
    "bounded_urls",
    "image_links",
    "post_fields",
    "snippet_html",
    "snippet_text",
]

# Highlight markers from ts_headline: private-use characters that never occur in posts, so
# the snippet can be HTML-escaped first and marked up after.
MARK_START, MARK_STOP = "\ue000", "\ue001"

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
    "summary": 500,
    "author": 100,
    "authors": 10,
    "alt": 300,
    "alts": 10,
    "posts": 20,
    "text": 1000,  # an image entry's text in search_file hits
    "url": 2048,  # a permalink: longer ones are dropped, as a cut URL is a broken link
    "aliases": 20,  # a post's other URLs (the reader's answer)
}


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


def bounded_url(url: str | None) -> str | None:
    """`url` when within HIT_CAPS["url"] characters, else None."""
    return url if url is None or len(url) <= HIT_CAPS["url"] else None


def post_fields(
    *,
    url: str | None,
    date: datetime | None,
    updated: datetime | None,
    authors: Sequence[Any],
    summary: str | None,
) -> dict[str, Any]:
    """A post's `url` (where its site publishes it; None when it has none or it is over the
    cap), `date` and `updated` (ISO 8601), `authors` and `summary`, within HIT_CAPS."""
    return {
        "url": bounded_url(url or None),
        "date": date.isoformat() if date else None,
        "updated": updated.isoformat() if updated else None,
        "authors": bounded_terms(authors, "author", "authors"),
        "summary": bounded(summary, "summary"),
    }


def image_links(url: str | None, published_url: str | None) -> dict[str, str | None]:
    """An image hit's links, the same from every back end: `url` where the site serves it,
    `publishedUrl` its copy in the artifact store; None when unknown or over the cap."""
    return {"url": bounded_url(url or None), "publishedUrl": bounded_url(published_url or None)}


def bounded_urls(urls: Sequence[str]) -> list[str]:
    """At most HIT_CAPS["aliases"] URLs, those over HIT_CAPS["url"] characters left out."""
    return [u for u in urls if len(u) <= HIT_CAPS["url"]][: HIT_CAPS["aliases"]]


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
