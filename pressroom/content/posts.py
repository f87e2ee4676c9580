"""Posts: one Markdown source file (bytes) to a `models.Post`.

Owns the repository conventions (Jekyll `_posts/YYYY-MM-DD-slug.md`, `_drafts/`, page
bundles `slug/index.md`, plain `slug.md`), post ids and their uniqueness across a tree
(`post_id`, `unique_post_paths`), putting a post together from its front matter
(pressroom.content.fields), rendered body (pressroom.content.render), sanitised HTML and
capped fields (pressroom.content.caps: a longer value is cut and the post is kept with a
warning), and turning every failure into a `PostParseError` with a reason.
"""

from __future__ import annotations

import hashlib
import math
import posixpath
from collections.abc import Iterable

from pressroom.content import fields
from pressroom.content.caps import FIELD_CAPS, Caps, cut
from pressroom.content.frontmatter import FrontMatterError, split_front_matter
from pressroom.content.paths import keep_first
from pressroom.content.render import MarkdownError, RenderedMarkdown, render
from pressroom.content.sanitize import HtmlPolicy, sanitize_html
from pressroom.conventions.place import place_page, resolve_authors
from pressroom.conventions.profile import Page, SiteProfile
from pressroom.conventions.rules import date_in_name
from pressroom.models import Post, PostError, Section

__all__ = [
    "POST_SUFFIXES",
    "PostParseError",
    "is_post_path",
    "normalise_path",
    "parse_post",
    "post_id",
    "unique_post_paths",
]

POST_SUFFIXES = (".md", ".markdown", ".mdx")  # .mdx: Astro, Docusaurus (content.mdx)
WORDS_PER_MINUTE = 200
# No generator named or found: each post at its path (pressroom.conventions.plain).
PLAIN = SiteProfile(name="plain")
_BUNDLE_INDEX = frozenset({"index", "_index"})  # Hugo: leaf and branch bundles


class PostParseError(ValueError):
    """A file that cannot become a Post; the message is the reason shown to users."""


def is_post_path(rel_path: str) -> bool:
    """True for Markdown files (.md, .markdown, .mdx, any case) with a name before the suffix."""
    name = posixpath.basename(rel_path.replace("\\", "/")).lower()
    return any(name.endswith(s) and len(name) > len(s) for s in POST_SUFFIXES)


def parse_post(
    rel_path: str,
    data: bytes,
    *,
    known_files: frozenset[str] = frozenset(),
    html_policy: HtmlPolicy | None = None,
    warnings: list[str] | None = None,
    profile: SiteProfile | None = None,
) -> Post:
    """Parse one post. Raises PostParseError (never anything else) when it cannot.

    `html_policy` (default: sanitise, pressroom.content.sanitize.HtmlPolicy) cleans the HTML;
    `warnings`, when given, receives one line per field cut to its cap; `profile` (default: a
    plain folder) says which generator's rules give the URL, dates and authors.
    """
    path = normalise_path(rel_path)
    text = _decode(data)
    try:
        return _build(
            path, text, data, known_files, html_policy or HtmlPolicy(), warnings, profile or PLAIN
        )
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

    def key(path: str) -> str | None:
        try:
            return post_id(path)
        except PostParseError:
            return None

    return keep_first(
        paths,
        key,
        lambda pid, first: (
            f"duplicate post id {pid!r}: {first!r} has the same id and keeps "
            f"it (the first file in path order wins); rename or remove one of them"
        ),
    )


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise PostParseError("not UTF-8 text (contains NUL bytes; binary file?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PostParseError(
            f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


def _build(
    path: str,
    text: str,
    data: bytes,
    known_files: frozenset[str],
    html_policy: HtmlPolicy,
    warnings: list[str] | None,
    profile: SiteProfile,
) -> Post:
    meta, body, _format = split_front_matter(text)
    rendered = render(body, post_path=path, known_files=known_files)

    pid = post_id(path)
    stem = _strip_suffix(path)
    folder, name = posixpath.split(stem)
    is_bundle = bool(folder) and name.lower() in _BUNDLE_INDEX
    name_date, name_slug = _split_dated(posixpath.basename(folder) if is_bundle else name)

    caps = Caps()
    words = rendered.word_count
    sections = _sections(pid, rendered, caps)  # first: its note leads the warning
    title = caps.text("title", fields.title_of(meta, rendered, name_slug))
    placed = place_page(profile, Page(path=path, meta=meta, title=title))
    authors = placed.authors or resolve_authors(profile, fields.authors(meta))
    description = caps.text(
        "description",
        fields.text_of(meta.get("description")) or fields.text_of(meta.get("summary")),
    )
    excerpt = fields.excerpt(meta, rendered, path, known_files)
    post = Post(
        id=pid,
        slug=caps.text("slug", fields.text_of(meta.get("slug")) or name_slug),
        path=path,
        title=title,
        url=caps.url(placed.url),
        aliases=caps.texts("aliases", placed.aliases, "url", "alias_count"),
        date=placed.date or fields.iso_date(meta.get("date")) or name_date,
        updated=placed.updated or fields.first_date(meta, "updated", "lastmod", "last_modified_at"),
        authors=caps.texts("authors", authors, "author", "author_count"),
        tags=caps.texts("tags", placed.tags or fields.tags(meta), "term", "term_count"),
        categories=caps.texts(
            "categories", placed.categories or fields.categories(meta), "term", "term_count"
        ),
        description=description,
        excerpt=excerpt,
        summary=description or excerpt,
        draft=fields.is_draft(meta, path) if placed.draft is None else placed.draft,
        word_count=words,
        reading_time=math.ceil(words / WORDS_PER_MINUTE) if words else 0,
        html=sanitize_html(rendered.html, html_policy),
        text=rendered.text,
        sections=sections,
        links=rendered.links,
        images=caps.images(rendered.images),
        front_matter=caps.front_matter(meta),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
    if warnings is not None and caps.cuts:
        warnings.append("; ".join(caps.cuts))
    return post


def _sections(pid: str, rendered: RenderedMarkdown, caps: Caps) -> list[Section]:
    limit = FIELD_CAPS["heading"]
    long_headings = sum(1 for s in rendered.sections if len(s.heading) > limit)
    if long_headings:
        caps.cuts.append(f"{long_headings} heading(s) cut to {limit} characters")
    return [
        Section(
            id=f"{pid}#{s.anchor}",
            post_id=pid,
            anchor=s.anchor,
            heading=cut(s.heading, limit),
            level=s.level,
            position=position,
            text=s.text,
        )
        for position, s in enumerate(rendered.sections)
    ]


def _strip_suffix(path: str) -> str:
    lower = path.lower()
    for suffix in POST_SUFFIXES:
        if lower.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _split_dated(name: str) -> tuple[str | None, str]:
    """("YYYY-MM-DD", slug) from a dated name (`2020-01-02-slug`), else (None, name)."""
    day, rest = date_in_name(name)
    return (day, rest) if day and rest else (None, name)
