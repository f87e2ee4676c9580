"""A revision's rows: the row types, their mapping to COPY records, and the bulk load.

Rows are bulk loaded with binary COPY (`copy_records_to_table`), streamed from the caller's
iterables (sync or async), so a large revision never sits in memory. Text is stored as
given, minus the NUL characters Postgres text and jsonb refuse.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import numpy as np

from pressroom.db.vectors import to_vector
from pressroom.models import MediaItem, Post, Section

__all__ = ["MediaRow", "SectionRow", "parse_timestamp", "replace_rows"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Rows between event-loop yields while streaming a sync iterable into COPY.
_YIELD_EVERY = 500


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
    lang: str = "english"  # text-search configuration (pressroom.search.language.ts_config_for)

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
    lang: str = "english"  # stems its words: the language of the first post that shows it
    url: str | None = None  # where the site serves it
    published_url: str | None = None  # its copy in the artifact store (media publishing)

    @classmethod
    def from_item(
        cls, item: MediaItem, *, embedding: np.ndarray | None = None, lang: str = "english"
    ) -> MediaRow:
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
            lang=lang,
            url=item.url,
            published_url=item.published_url,
        )


# --- COPY -------------------------------------------------------------------------------

_POST_COLUMNS = tuple(
    (
        "site_id revision_id post_id slug path title url aliases date updated authors tags "
        "categories description excerpt summary draft word_count reading_time content_sha256 "
        "data"
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
        "description dims embedding lang url published_url"
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


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 date or datetime -> aware datetime (UTC when no offset); None if unparseable
    (or not a string).

    Also accepts Jekyll's `YYYY-MM-DD HH:MM:SS +0000` (a space before the offset).
    """
    if not isinstance(value, str) or not value:
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
        None if p.url is None else _text(p.url),
        [_text(a) for a in p.aliases],
        parse_timestamp(p.date),
        parse_timestamp(p.updated),
        [_text(a) for a in p.authors],
        [_text(t) for t in p.tags],
        [_text(c) for c in p.categories],
        _text(p.description),
        _text(p.excerpt),
        _text(p.summary),
        p.draft,
        p.word_count,
        p.reading_time,
        p.content_sha256,
        _jsonb(data),
    )


def _section_record(site: str, revision_id: str, dims: int, s: SectionRow) -> tuple[Any, ...]:
    vec = to_vector(s.embedding, dims, f"section {s.section_id}")
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
    vec = to_vector(m.embedding, dims, f"media {m.path}")
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
        m.lang,
        m.url,
        m.published_url,
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


_TABLES = (("posts", _POST_COLUMNS), ("sections", _SECTION_COLUMNS), ("media", _MEDIA_COLUMNS))


async def replace_rows(
    conn: asyncpg.Connection,
    site: str,
    revision_id: str,
    dims: int,
    *,
    posts: Iterable[Post] | AsyncIterable[Post],
    sections: Iterable[SectionRow] | AsyncIterable[SectionRow],
    media: Iterable[MediaRow] | AsyncIterable[MediaRow],
) -> dict[str, int]:
    """Replace a revision's posts, sections and media (rows of an earlier attempt at the
    same revision go first); returns the rows stored, `{"posts", "sections", "media"}`.
    Every embedding must have `dims` dimensions. Run it inside the caller's transaction."""
    for table, _ in _TABLES:
        await conn.execute(
            f"DELETE FROM {table} WHERE site_id = $1 AND revision_id = $2",  # noqa: S608 - fixed table names
            site,
            revision_id,
        )
    records = {
        "posts": _mapped(posts, lambda p: _post_record(site, revision_id, p)),
        "sections": _mapped(sections, lambda s: _section_record(site, revision_id, dims, s)),
        "media": _mapped(media, lambda m: _media_record(site, revision_id, dims, m)),
    }
    return {table: await _copy(conn, table, columns, records[table]) for table, columns in _TABLES}
