"""Posts: one Markdown source file (bytes) to a `models.Post`.

Owns the repository conventions (Jekyll `_posts/YYYY-MM-DD-slug.md`, `_drafts/`, page
bundles `slug/index.md`, plain `slug.md`), reading the usual front matter keys of Jekyll,
Hugo and friends, and turning every failure into a `PostParseError` with a reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import posixpath
import re
from collections.abc import Iterable
from typing import Any

from pressroom.frontmatter import FrontMatterError, split_front_matter
from pressroom.markdown import MarkdownError, RenderedMarkdown, render
from pressroom.models import Post, Section

__all__ = ["POST_SUFFIXES", "PostParseError", "is_post_path", "parse_post"]

POST_SUFFIXES = (".md", ".markdown")
WORDS_PER_MINUTE = 200
EXCERPT_CHARS = 300

_DATED_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(.+)$")
_BUNDLE_INDEX = frozenset({"index", "_index"})  # Hugo: leaf and branch bundles
# Jekyll writes "2018-08-01 15:00:00 +0200", which YAML leaves as a string.
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%d %H:%M:%S.%f %z",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%B %d, %Y",
    "%d %B %Y",
)


class PostParseError(ValueError):
    """A file that cannot become a Post; the message is the reason shown to users."""


def is_post_path(rel_path: str) -> bool:
    """True for Markdown files (.md, .markdown, any case) with a name before the suffix."""
    name = posixpath.basename(rel_path.replace("\\", "/")).lower()
    return any(name.endswith(s) and len(name) > len(s) for s in POST_SUFFIXES)


def parse_post(rel_path: str, data: bytes, *, known_files: frozenset[str] = frozenset()) -> Post:
    """Parse one post. Raises PostParseError (never anything else) when it cannot."""
    path = _normalise_path(rel_path)
    text = _decode(data)
    try:
        return _build(path, text, data, known_files)
    except PostParseError:
        raise
    except (FrontMatterError, MarkdownError) as exc:
        raise PostParseError(str(exc)) from exc
    except RecursionError:
        # from None: the chained traceback would be thousands of frames long.
        raise PostParseError("nested too deeply to parse (recursion limit reached)") from None
    except Exception as exc:  # any parser bug becomes a per-post error, not a failed job
        raise PostParseError(f"unexpected parser error: {type(exc).__name__}: {exc}") from exc


def _normalise_path(rel_path: str) -> str:
    path = posixpath.normpath(rel_path.replace("\\", "/")).lstrip("/")
    if path in ("", ".") or path.startswith("../"):
        raise PostParseError(f"not a repository-relative path: {rel_path!r}")
    return path


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise PostParseError("not UTF-8 text (contains NUL bytes; binary file?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PostParseError(
            f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


def _build(path: str, text: str, data: bytes, known_files: frozenset[str]) -> Post:
    meta, body, _format = split_front_matter(text)
    rendered = render(body, post_path=path, known_files=known_files)

    stem = _strip_suffix(path)
    folder, name = posixpath.split(stem)
    is_bundle = bool(folder) and name.lower() in _BUNDLE_INDEX
    post_id = folder if is_bundle else stem
    name_date, name_slug = _split_dated(posixpath.basename(folder) if is_bundle else name)

    words = rendered.word_count
    return Post(
        id=post_id,
        slug=_text(meta.get("slug")) or name_slug,
        path=path,
        title=_title(meta, rendered, name_slug),
        date=_iso(meta.get("date")) or name_date,
        updated=_first_date(meta, "updated", "lastmod", "last_modified_at"),
        authors=_unique([*_people(meta.get("author")), *_people(meta.get("authors"))]),
        tags=_unique([*_one(meta.get("tag")), *_terms(meta.get("tags"))]),
        categories=_unique([*_one(meta.get("category")), *_terms(meta.get("categories"))]),
        description=_text(meta.get("description")) or _text(meta.get("summary")),
        excerpt=_excerpt(meta, rendered, path, known_files),
        draft=_is_draft(meta, path),
        word_count=words,
        reading_time=math.ceil(words / WORDS_PER_MINUTE) if words else 0,
        html=rendered.html,
        text=rendered.text,
        sections=[
            Section(
                id=f"{post_id}#{s.anchor}",
                post_id=post_id,
                anchor=s.anchor,
                heading=s.heading,
                level=s.level,
                position=position,
                text=s.text,
            )
            for position, s in enumerate(rendered.sections)
        ],
        links=rendered.links,
        images=rendered.images,
        front_matter=meta,
        content_sha256=hashlib.sha256(data).hexdigest(),
    )


def _strip_suffix(path: str) -> str:
    lower = path.lower()
    for suffix in POST_SUFFIXES:
        if lower.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _split_dated(name: str) -> tuple[str | None, str]:
    """("YYYY-MM-DD", slug) from a Jekyll-style dated name, else (None, name)."""
    match = _DATED_NAME.match(name)
    if match is None:
        return None, name
    try:
        day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:  # "2020-13-45-x" is a name, not a date
        return None, name
    return day.isoformat(), match.group(4)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def _title(meta: dict[str, Any], rendered: RenderedMarkdown, name_slug: str) -> str:
    title = _text(meta.get("title"))
    if title:
        return title
    for section in rendered.sections:
        if section.level == 1 and section.heading:
            return section.heading
    words = re.sub(r"[-_\s]+", " ", name_slug).strip()
    return words[:1].upper() + words[1:] if words else name_slug


def _iso(value: Any) -> str | None:
    """An ISO 8601 date or datetime from a front matter value, None if it is not one."""
    text = _text(value)
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


def _first_date(meta: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        found = _iso(meta.get(key))
        if found:
            return found
    return None


def _people(value: Any) -> list[str]:
    if isinstance(value, dict):  # {name: ..., url: ...} author objects
        return [name] if (name := _text(value.get("name") or value.get("id"))) else []
    if isinstance(value, list):
        return [name for item in value for name in _people(item)]
    return [name] if (name := _text(value)) else []


def _one(value: Any) -> list[str]:
    """Jekyll's singular `tag`/`category`: one term, never split."""
    return [term] if (term := _text(value)) else []


def _terms(value: Any) -> list[str]:
    """A list, or a string separated by commas (else by spaces, as Jekyll allows)."""
    if isinstance(value, list):
        return [term for item in value if (term := _text(item))]
    text = _text(value)
    parts = text.split(",") if "," in text else text.split()
    return [part.strip() for part in parts if part.strip()]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _excerpt(
    meta: dict[str, Any], rendered: RenderedMarkdown, path: str, known_files: frozenset[str]
) -> str:
    written = _text(meta.get("excerpt"))
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


def _is_draft(meta: dict[str, Any], path: str) -> bool:
    draft = meta.get("draft")
    published = meta.get("published")
    return (
        draft is True
        or (isinstance(draft, str) and draft.strip().lower() in ("true", "yes"))
        or published is False
        or (isinstance(published, str) and published.strip().lower() in ("false", "no"))
        or "_drafts" in path.split("/")[:-1]
    )
