"""MkDocs: `mkdocs.yml` (`site_url`, `docs_dir`, `use_directory_urls`, and Material's `blog`
plugin: `blog_dir`, `post_dir`, `post_url_format`, `post_url_date_format`, `post_slugify`,
`post_slugify_separator`, `post_url_max_categories`, `authors_file`); pages at `/{path}/`
(`foo.md` -> `/foo/`, or `/foo.html` without directory URLs), `index.md` as its folder's
page and `README.md` too when the folder has no `index.md`; files and folders starting
with `.` are left out. Blog posts (anywhere under the posts folder, which is not part of
their URL) at `/{blog_dir}/{post_url_format}/`, by default `{date}/{slug}` with the date as
`yyyy/MM/dd` and the slug from the title (or `slug`); the date is `date:` or
`date: {created:, updated:}` (required: a post without one is no page); `authors` keys
resolve through `{blog_dir}/.authors.yml`. Images are served at their path under docs_dir.

Rules: https://www.mkdocs.org/user-guide/configuration/ (site_url, docs_dir,
use_directory_urls), https://www.mkdocs.org/user-guide/writing-your-docs/ (index pages,
README.md), https://squidfunk.github.io/mkdocs-material/plugins/blog/ (settings and
post metadata).
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from pressroom.content.fields import iso_date, text_of
from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import (
    author_names,
    page_parts,
    root_relative,
    strings,
    toc_slugify,
    tree_path,
    under,
)
from pressroom.conventions.site_tree import SiteTree

__all__ = ["configure", "media_url", "place"]

BLOG_DEFAULTS = {
    "blog_dir": "blog",
    "post_dir": "{blog}/posts",
    "post_url_format": "{date}/{slug}",
    "post_url_date_format": "yyyy/MM/dd",
    "post_slugify_separator": "-",
    "post_url_max_categories": 1,
    "authors_file": "{blog}/.authors.yml",
}
# Babel date pattern fields the URL date format uses (a run of one letter is one field).
_BABEL_FIELD = re.compile(r"y+|M+|d+|'[^']*'")
_SLUGIFY_TAG = re.compile(
    r"^(\s*)post_slugify:\s*!!python/[\w/]+:(\S+)(.*?)(?=^\1\w|\Z)", re.MULTILINE | re.DOTALL
)
_MONTHS = [dt.date(2000, m, 1).strftime("%B") for m in range(1, 13)]


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    config = tree.load(profile.config) if profile.config else {}
    contributed = list(profile.contributed)
    docs = tree_path(profile.root, text_of(config.get("docs_dir")) or "docs")
    facts: dict[str, Any] = {
        "docs": docs,
        "directory_urls": config.get("use_directory_urls") is not False,
        "shadowed": _shadowed_readmes(tree, docs),
    }
    authors: dict[str, str] = {}
    blog = _blog_options(config.get("plugins"))
    if blog is not None:
        options = {**BLOG_DEFAULTS, **{k: v for k, v in blog.items() if k in BLOG_DEFAULTS}}
        blog_dir = tree_path("", text_of(options["blog_dir"]) or ".")
        post_dir = text_of(options["post_dir"]).replace("{blog}", blog_dir).lstrip("/")
        options.update(blog_dir=blog_dir, post_dir=tree_path("", post_dir))
        options["slugify"] = _slugify_kind(tree.text(profile.config or "") or "", contributed)
        facts["blog"] = options
        contributed.append(f"Material blog at /{blog_dir}/ ({profile.config})")
        authors_file = text_of(options["authors_file"]).replace("{blog}", blog_dir).lstrip("/")
        found = posixpath.join(docs, authors_file)
        if tree.has(found):
            people = tree.load(found).get("authors")
            authors = author_names(people)
            contributed.append(f"{len(authors)} authors ({found})")
    base_url = profile.base_url
    if base_url is None and text_of(config.get("site_url")).startswith(("http://", "https://")):
        base_url = text_of(config.get("site_url")).rstrip("/") + "/"
        contributed.append(f"base URL {base_url} ({profile.config})")
    return profile.model_copy(
        update={
            "facts": facts,
            "base_url": base_url,
            "authors": authors,
            "contributed": contributed,
        }
    )


def _blog_options(plugins: Any) -> dict[str, Any] | None:
    """The blog plugin's options (`- blog`, `- material/blog: {...}`, or a plugins mapping);
    None when it is not enabled."""
    entries = plugins.items() if isinstance(plugins, dict) else []
    if isinstance(plugins, list):
        entries = [
            next(iter(p.items())) if isinstance(p, dict) and len(p) == 1 else (p, None)
            for p in plugins
        ]
    for name, options in entries:
        if str(name) in ("blog", "material/blog"):
            options = options if isinstance(options, dict) else {}
            return None if options.get("enabled") is False else options
    return None


def _slugify_kind(text: str, contributed: list[str]) -> str:
    """`toc` (the default), `unicode` / `unicode-lower` (pymdownx.slugs.slugify, with
    `case: lower`), from the raw config: the YAML tag naming the function is not a value."""
    match = _SLUGIFY_TAG.search(text)
    if match is None:
        return "toc"
    function, rest = match.group(2), match.group(3)
    if function.endswith("slugs.slugify"):
        return "unicode-lower" if re.search(r"case:\s*lower", rest) else "unicode"
    if not function.endswith("toc.slugify"):
        contributed.append(f"note: post_slugify {function} not known: toc.slugify used")
    return "toc"


def _shadowed_readmes(tree: SiteTree, docs: str) -> list[str]:
    """Folders (docs-relative) whose README.md gives way to an index.md."""
    found = []
    for name in tree.files_under(docs):
        if posixpath.basename(name).lower() == "readme.md":
            folder = posixpath.dirname(name)
            if tree.has(posixpath.join(folder, "index.md")):
                found.append(posixpath.dirname(under(name, docs) or ""))
    return found


def place(profile: SiteProfile, page: Page) -> Placement:
    facts = profile.facts
    rel = under(page.path, facts.get("docs", "docs"))
    if rel is None or any(part.startswith(".") for part in rel.split("/")):
        return Placement(url=None)
    blog = facts.get("blog")
    if blog is not None and under(rel, blog["post_dir"]) is not None:
        return _post(profile, blog, rel, page)
    folder, name, kind = page_parts(rel, ("index", "readme"))
    if kind == "index" and page_parts(rel, ())[1].lower() == "readme":
        if folder in facts.get("shadowed", []):
            return Placement(url=None)
    return Placement(url=_page_url(profile, folder, "index" if kind == "index" else name))


def _page_url(profile: SiteProfile, folder: str, name: str) -> str:
    """MkDocs' URL of `{folder}/{name}.md`: `folder/name/` (directory URLs) or `.html`."""
    if profile.facts.get("directory_urls", True):
        return root_relative(f"{folder}/" if name == "index" else f"{folder}/{name}/")
    return root_relative(f"{folder}/{name}.html")


def _post(profile: SiteProfile, blog: Mapping[str, Any], rel: str, page: Page) -> Placement:
    meta = page.meta
    dates = meta.get("date")
    if isinstance(dates, Mapping):
        date, updated = iso_date(dates.get("created")), iso_date(dates.get("updated"))
    else:
        date, updated = iso_date(dates), None
    authors = strings(meta.get("authors")) or None
    if date is None:  # the plugin stops the build: no page
        return Placement(url=None, updated=updated, authors=authors)
    separator = text_of(blog["post_slugify_separator"]) or "-"
    slug = text_of(meta.get("slug")) or _slug(page.title, blog["slugify"], separator)
    categories = [_slug(c, "toc", separator) for c in strings(meta.get("categories"))]
    tokens = {
        "date": _babel(date, text_of(blog["post_url_date_format"]) or "yyyy/MM/dd"),
        "slug": slug,
        "categories": "/".join(categories[: int(blog["post_url_max_categories"] or 1)]),
        "file": page_parts(rel, ())[1],
    }
    pattern = text_of(blog["post_url_format"]) or "{date}/{slug}"
    path = re.sub(r"\{(\w+)\}", lambda m: tokens.get(m.group(1), m.group(0)), pattern)
    folder, name = posixpath.split(posixpath.join(blog["blog_dir"], path.strip("/")))
    url = _page_url(profile, folder, name)
    return Placement(url=url, date=date, updated=updated, authors=authors)


def _slug(text: str, kind: str, separator: str) -> str:
    if kind == "toc":
        return toc_slugify(text, separator)
    return toc_slugify(text, separator, unicode=True, lower=kind == "unicode-lower")


def _babel(date: str, pattern: str) -> str:
    """An ISO date in a Babel date pattern's year, month and day fields (`yyyy/MM/dd`)."""
    day = dt.date.fromisoformat(date[:10])

    def field(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("'"):
            return token.strip("'")
        if token[0] == "y":
            return f"{day.year % 100:02d}" if len(token) == 2 else str(day.year)
        value = day.month if token[0] == "M" else day.day
        if token[0] == "M" and len(token) >= 3:
            return _MONTHS[value - 1] if len(token) == 4 else _MONTHS[value - 1][:3]
        return f"{value:0{len(token)}d}"

    return _BABEL_FIELD.sub(field, pattern)


def media_url(profile: SiteProfile, path: str) -> str | None:
    rel = under(path, profile.facts.get("docs", "docs"))
    if rel is None or any(part.startswith(".") for part in rel.split("/")):
        return None
    return root_relative(rel)
