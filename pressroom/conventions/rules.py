"""Rules every generator shares: slugs, dates in file and folder names and in URL paths,
permalink patterns (`/:year/:month/:title/`), where a file sits under a folder, URLs joined
to a base (and a config's base path), and author files (`authors.yml`) read into names.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pressroom.content.fields import iso_date, text_of

__all__ = [
    "absolute",
    "author_names",
    "date_in_name",
    "date_in_path",
    "date_in_url",
    "fill_pattern",
    "first_date",
    "page_parts",
    "prefixed",
    "root_relative",
    "site_base",
    "slugify",
    "static_url",
    "strings",
    "toc_slugify",
    "tree_path",
    "under",
    "ymd",
]

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")
# `2021-08-01-name`, `2021-08-01_name` (Zola), or a bare `2021-08-01` folder.
_DATED = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[-_](.+))?$")
_PATH_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_URL_DATE = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})(?:/|$)")
_TOKEN = re.compile(r":([a-z_]+)")


def slugify(text: str) -> str:
    """Lower-case words joined by `-`, accents folded: `Hello, World!` -> `hello-world`."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def toc_slugify(
    text: str, separator: str = "-", *, unicode: bool = False, lower: bool = True
) -> str:
    """Python-Markdown's `toc.slugify` (MkDocs' default): characters other than word
    characters, spaces and hyphens dropped, lower-cased, runs of spaces and separators joined
    (`Release 1.0 is out` -> `release-10-is-out`); `unicode` keeps non-ASCII letters and
    `lower=False` the case, as pymdownx's `slugs.slugify` can."""
    if not unicode:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip()
    text = text.lower() if lower else text
    return re.sub(rf"[{re.escape(separator)}\s]+", separator, text)


def tree_path(root: str, path: str) -> str:
    """A folder a config names relative to the site (`./src`, `docs/`, `.`) as a tree path."""
    joined = posixpath.normpath(posixpath.join(root or ".", path))
    return "" if joined == "." else joined


def under(path: str, folder: str) -> str | None:
    """`path` relative to `folder` ("" is the root), None when it is not inside."""
    if not folder:
        return path
    prefix = folder.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def page_parts(
    rel: str, index_names: tuple[str, ...] = ("index", "_index")
) -> tuple[str, str, str]:
    """(folder, name, kind) of a page path: the suffix gone; kind is "index" for a folder's
    own page (`a/b/index.md`: folder "a/b", name "b"), "branch" for `_index`, else "leaf"."""
    stem = rel
    lower = rel.lower()
    for suffix in MARKDOWN_SUFFIXES:
        if lower.endswith(suffix):
            stem = rel[: -len(suffix)]
            break
    folder, name = posixpath.split(stem)
    if name.lower() in index_names:
        kind = "branch" if name.startswith("_") else "index"
        return folder, posixpath.basename(folder), kind
    return folder, name, "leaf"


def date_in_name(name: str) -> tuple[str | None, str]:
    """("YYYY-MM-DD", rest) for a dated file or folder name, else (None, name)."""
    match = _DATED.match(name)
    if match is None:
        return None, name
    try:
        day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:  # "2020-13-45-x" is a name, not a date
        return None, name
    return day.isoformat(), match.group(4) or ""


def date_in_url(url: str | None) -> str | None:
    """The day of a `/YYYY/MM/DD/` URL path (a date written nowhere else), else None."""
    match = _URL_DATE.search(url or "")
    return None if match is None else _day(match.groups())


def date_in_path(path: str) -> str | None:
    """The first `YYYY-MM-DD` anywhere in a path, folders included (Eleventy's file date)."""
    match = _PATH_DATE.search(path)
    return None if match is None else _day(match.groups())


def _day(groups: tuple[str, ...]) -> str | None:
    try:
        return dt.date(*(int(g) for g in groups)).isoformat()
    except ValueError:  # "2020-13-45" is no day
        return None


def ymd(date: str | None) -> tuple[str, str, str]:
    """("2024", "01", "31") of an ISO date or datetime as written, ("", "", "") for None."""
    parts = (date or "")[:10].split("-")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", "")


def first_date(meta: Mapping[str, Any], keys: tuple[str, ...] | list[str]) -> str | None:
    """The first key (case-insensitive, as Hugo reads front matter) holding a date."""
    lowered = {str(k).lower(): v for k, v in meta.items()}
    for key in keys:
        found = iso_date(lowered.get(key.lower()))
        if found:
            return found
    return None


def strings(value: Any) -> list[str]:
    """A front matter value as a list of non-empty strings (one string, or a list)."""
    items = value if isinstance(value, list) else [value]
    return [text for item in items if (text := text_of(item))]


def fill_pattern(pattern: str, tokens: Mapping[str, str]) -> str:
    """A permalink pattern with its `:tokens` replaced (unknown ones kept as written)."""
    return _TOKEN.sub(lambda m: tokens.get(m.group(1), m.group(0)), pattern)


def root_relative(path: str) -> str:
    """A URL path with one leading `/`, no `//`, no `./`, spaces and such %-escaped."""
    keep_slash = path.endswith("/")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    url = "/" + "/".join(quote(p, safe="!$&'()*+,;=:@-._~%") for p in parts)
    return url + "/" if keep_slash and url != "/" else url


def site_base(
    job_base_url: str | None, site: str | None, base_path: str | None
) -> tuple[str | None, str]:
    """(base URL, path prefix) from a config's site URL and base path (Astro `site` + `base`,
    Docusaurus `url` + `baseUrl`, Eleventy `pathPrefix`): the job's base URL wins whole; a
    site URL takes the base path into it; with no site URL the base path prefixes each URL."""
    path = (base_path or "").strip("/")
    if job_base_url is not None:
        return job_base_url, ""
    if site and re.match(r"^https?://", site, re.I):
        return site.rstrip("/") + "/" + (path + "/" if path else ""), ""
    return None, "/" + path if path else ""


def prefixed(prefix: str, url: str | None) -> str | None:
    """A root-relative URL under a site's base path (`/site` + `/blog/x` -> `/site/blog/x`)."""
    if url is None or not prefix:
        return url
    return root_relative(prefix.rstrip("/") + "/" + url.lstrip("/"))


def author_names(people: Any) -> dict[str, str]:
    """An authors file's mapping (`key: {name: ...}`) as key -> display name; an entry with no
    name keeps its key."""
    if not isinstance(people, Mapping):
        return {}
    names = {}
    for key, person in people.items():
        name = text_of(person.get("name")) if isinstance(person, Mapping) else text_of(person)
        names[str(key)] = name or str(key)
    return names


def static_url(root: str, path: str, folder: str = "static", prefix: str = "") -> str | None:
    """The URL of a file in the site's static folder (copied as is to the site root), None
    when `path` is not in it."""
    rel = under(path, tree_path(root, folder))
    return None if rel is None else prefixed(prefix, root_relative(rel))


def absolute(base_url: str | None, url: str | None) -> str | None:
    """`url` under the site's base URL (its path included), or as is when none is known.
    A URL that already has a scheme is left alone."""
    if url is None or base_url is None or re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I):
        return url
    return base_url.rstrip("/") + root_relative(url)
