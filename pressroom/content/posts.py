"""Posts: one Markdown source file (bytes) to a `models.Post`.

Owns the repository conventions (Jekyll `_posts/YYYY-MM-DD-slug.md`, `_drafts/`, page
bundles `slug/index.md`, plain `slug.md`), post ids and their uniqueness across a tree
(`post_id`, `unique_post_paths`), reading the usual front matter keys of Jekyll, Hugo and
friends, the size caps of a post's short fields, and turning every failure into a
`PostParseError` with a reason.

Field caps (FIELD_CAPS, in characters): a longer value is cut (marked with "…") and the
post is kept with a warning naming what was cut. Title 300, slug 200, description 1,000,
excerpt 300, each author 200 (at most 50), each tag and category 100 (at most 100 of each),
each section heading 300, each image alt text 1,000, and each string inside the post's
`front_matter` copy 4,096. The front matter block itself is limited in
pressroom.frontmatter (MAX_FRONT_MATTER_BYTES: a larger block is a per-post error).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import posixpath
import re
from collections.abc import Iterable
from typing import Any

from pressroom.content.frontmatter import FrontMatterError, split_front_matter
from pressroom.content.markdown import (
    HtmlPolicy,
    MarkdownError,
    RenderedMarkdown,
    render,
    sanitize_html,
)
from pressroom.models import ImageRef, Post, PostError, Section

__all__ = [
    "FIELD_CAPS",
    "POST_SUFFIXES",
    "PostParseError",
    "is_post_path",
    "normalise_path",
    "parse_post",
    "post_id",
    "unique_post_paths",
]

POST_SUFFIXES = (".md", ".markdown")
WORDS_PER_MINUTE = 200
EXCERPT_CHARS = 300

# Characters (or items, for the *_count caps) a post's short fields keep; see the module
# docstring. Search hits, result lists and every artifact repeat these fields per post.
FIELD_CAPS: dict[str, int] = {
    "title": 300,
    "slug": 200,
    "description": 1000,
    "author": 200,
    "author_count": 50,
    "term": 100,  # one tag or category
    "term_count": 100,  # tags, and categories, each
    "heading": 300,
    "alt": 1000,
    "front_matter_string": 4096,
}
_CUT = "\u2026"

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


def parse_post(
    rel_path: str,
    data: bytes,
    *,
    known_files: frozenset[str] = frozenset(),
    html_policy: HtmlPolicy | None = None,
    warnings: list[str] | None = None,
) -> Post:
    """Parse one post. Raises PostParseError (never anything else) when it cannot.

    `html_policy` (default: sanitise, pressroom.markdown.HtmlPolicy) cleans the HTML;
    `warnings`, when given, receives one line per field cut to its cap.
    """
    path = normalise_path(rel_path)
    text = _decode(data)
    try:
        return _build(path, text, data, known_files, html_policy or HtmlPolicy(), warnings)
    except PostParseError:
        raise
    except (FrontMatterError, MarkdownError) as exc:
        raise PostParseError(str(exc)) from exc
    except RecursionError:
        # from None: the chained traceback would be thousands of frames long.
        raise PostParseError("nested too deeply to parse (recursion limit reached)") from None
    except Exception as exc:  # any parser bug becomes a per-post error, not a failed job
        raise PostParseError(f"unexpected parser error: {type(exc).__name__}: {exc}") from exc


def normalise_path(rel_path: str) -> str:
    """The repo-relative POSIX path of a post: backslashes read as separators (a tree made on
    Windows), `.` and `..` collapsed. PostParseError if it leaves the repository."""
    path = posixpath.normpath(rel_path.replace("\\", "/")).lstrip("/")
    if path in ("", ".", "..") or path.startswith("../"):
        raise PostParseError(f"not a repository-relative path: {rel_path!r}")
    return path


def post_id(rel_path: str) -> str:
    """The id of the post at `rel_path`: its normalised path without the suffix, and a page
    bundle's (`slug/index.md`, `slug/_index.md`) folder. Depends on the path only, so
    duplicates are found before anything is parsed. PostParseError for a path outside the
    repository."""
    stem = _strip_suffix(normalise_path(rel_path))
    folder, name = posixpath.split(stem)
    return folder if folder and name.lower() in _BUNDLE_INDEX else stem


def unique_post_paths(paths: Iterable[str]) -> tuple[list[str], list[PostError]]:
    """The post files to parse, and a per-post error for each file whose id another file has.

    Two files can derive one id (`a.md` + `a.markdown`, `a/b.md` + `a\\b.md`,
    `a.md` + `a/index.md`), which the database (one row per id) cannot hold. The first file in
    sorted path order keeps the id, so the outcome never depends on listing order; the error
    names both files. A path outside the repository is left for the parser to report.
    """
    owners: dict[str, str] = {}
    kept: list[str] = []
    errors: list[PostError] = []
    for path in sorted(paths):
        try:
            pid = post_id(path)
        except PostParseError:
            kept.append(path)
            continue
        first = owners.setdefault(pid, path)
        if first == path:
            kept.append(path)
        else:
            errors.append(
                PostError(
                    path=path,
                    reason=f"duplicate post id {pid!r}: {first!r} has the same id and keeps "
                    f"it (the first file in path order wins); rename or remove one of them",
                )
            )
    return kept, errors


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise PostParseError("not UTF-8 text (contains NUL bytes; binary file?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PostParseError(
            f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


class _Caps:
    """Cuts fields to FIELD_CAPS and remembers what it cut, for the post's warning."""

    def __init__(self) -> None:
        self.cuts: list[str] = []

    def text(self, field: str, value: str, cap: str | None = None) -> str:
        limit = FIELD_CAPS[cap or field]
        if len(value) <= limit:
            return value
        self.cuts.append(f"{field} cut from {len(value)} to {limit} characters")
        return _cut(value, limit)

    def texts(self, field: str, values: list[str], each: str, count: str) -> list[str]:
        limit = FIELD_CAPS[count]
        if len(values) > limit:
            self.cuts.append(f"{field} cut from {len(values)} to {limit} items")
            values = values[:limit]
        each_limit = FIELD_CAPS[each]
        long = sum(1 for v in values if len(v) > each_limit)
        if long:
            self.cuts.append(f"{long} of {field} cut to {each_limit} characters")
            # Two long values may be the same once cut.
            values = _unique(_cut(v, each_limit) for v in values)
        return values

    def front_matter(self, value: Any) -> Any:
        limit = FIELD_CAPS["front_matter_string"]
        cut = 0

        def walk(item: Any) -> Any:
            nonlocal cut
            if isinstance(item, str) and len(item) > limit:
                cut += 1
                return _cut(item, limit)
            if isinstance(item, dict):
                return {k: walk(v) for k, v in item.items()}
            if isinstance(item, list):
                return [walk(v) for v in item]
            return item

        out = walk(value)
        if cut:
            self.cuts.append(f"{cut} front_matter string(s) cut to {limit} characters")
        return out


def _build(
    path: str,
    text: str,
    data: bytes,
    known_files: frozenset[str],
    html_policy: HtmlPolicy,
    warnings: list[str] | None,
) -> Post:
    meta, body, _format = split_front_matter(text)
    rendered = render(body, post_path=path, known_files=known_files)

    pid = post_id(path)
    stem = _strip_suffix(path)
    folder, name = posixpath.split(stem)
    is_bundle = bool(folder) and name.lower() in _BUNDLE_INDEX
    name_date, name_slug = _split_dated(posixpath.basename(folder) if is_bundle else name)

    caps = _Caps()
    words = rendered.word_count
    long_headings = sum(1 for s in rendered.sections if len(s.heading) > FIELD_CAPS["heading"])
    if long_headings:
        caps.cuts.append(f"{long_headings} heading(s) cut to {FIELD_CAPS['heading']} characters")
    post = Post(
        id=pid,
        slug=caps.text("slug", _text(meta.get("slug")) or name_slug),
        path=path,
        title=caps.text("title", _title(meta, rendered, name_slug)),
        date=_iso(meta.get("date")) or name_date,
        updated=_first_date(meta, "updated", "lastmod", "last_modified_at"),
        authors=caps.texts(
            "authors",
            _unique([*_people(meta.get("author")), *_people(meta.get("authors"))]),
            "author",
            "author_count",
        ),
        tags=caps.texts(
            "tags",
            _unique([*_one(meta.get("tag")), *_terms(meta.get("tags"))]),
            "term",
            "term_count",
        ),
        categories=caps.texts(
            "categories",
            _unique([*_one(meta.get("category")), *_terms(meta.get("categories"))]),
            "term",
            "term_count",
        ),
        description=caps.text(
            "description", _text(meta.get("description")) or _text(meta.get("summary"))
        ),
        excerpt=_excerpt(meta, rendered, path, known_files),
        draft=_is_draft(meta, path),
        word_count=words,
        reading_time=math.ceil(words / WORDS_PER_MINUTE) if words else 0,
        html=sanitize_html(rendered.html, html_policy),
        text=rendered.text,
        sections=[
            Section(
                id=f"{pid}#{s.anchor}",
                post_id=pid,
                anchor=s.anchor,
                heading=_cut(s.heading, FIELD_CAPS["heading"]),
                level=s.level,
                position=position,
                text=s.text,
            )
            for position, s in enumerate(rendered.sections)
        ],
        links=rendered.links,
        images=_capped_images(rendered.images, caps),
        front_matter=caps.front_matter(meta),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
    if warnings is not None and caps.cuts:
        warnings.append("; ".join(caps.cuts))
    return post


def _cut(value: str, limit: int) -> str:
    """At most `limit` characters, marked with "…" when cut."""
    return value if len(value) <= limit else value[: limit - 1] + _CUT


def _capped_images(images: list[ImageRef], caps: _Caps) -> list[ImageRef]:
    limit = FIELD_CAPS["alt"]
    long = [i for i in images if len(i.alt) > limit or len(i.title or "") > limit]
    if not long:
        return images
    caps.cuts.append(f"{len(long)} image alt text(s) or title(s) cut to {limit} characters")
    return [
        i.model_copy(update={"alt": _cut(i.alt, limit), "title": i.title and _cut(i.title, limit)})
        for i in images
    ]


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
