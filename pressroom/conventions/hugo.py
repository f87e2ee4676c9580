"""Hugo: `hugo.toml|yaml|json` or `config.*` (`baseURL`, `contentDir` and module mounts,
`permalinks`, `uglyURLs`, `disablePathToLower`, `[frontmatter]` date keys); pages in the
content folder at `/{section path}/{slug or name}/`, bundles (`x/index.md`) at their folder,
sections (`_index.md`) at theirs, `url` and `slug` front matter, `aliases`, and headless
bundles or `build.render: never` (also cascaded from a section) rendering no page.

Rules: https://gohugo.io/content-management/urls/, .../front-matter/#dates,
.../page-bundles/, .../build-options/.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from pressroom.content.fields import text_of
from pressroom.content.frontmatter import FrontMatterError, split_front_matter
from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import (
    date_in_name,
    fill_pattern,
    first_date,
    page_parts,
    root_relative,
    slugify,
    strings,
    under,
    ymd,
)
from pressroom.conventions.site_tree import SiteTree

__all__ = ["configure", "media_url", "place"]

# Hugo's defaults (https://gohugo.io/configuration/front-matter/#dates).
DEFAULT_DATES = {
    "date": ["date", "publishdate", "pubdate", "published", "lastmod", "modified"],
    "lastmod": [":git", "lastmod", "modified", "date", "publishdate", "pubdate", "published"],
    "publishdate": ["publishdate", "pubdate", "published", "date"],
}
_TITLE_SAFE = re.compile(r"[^\w\-./]+", re.UNICODE)


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    config = _lowered(tree.load(profile.config)) if profile.config else {}
    contributed = list(profile.contributed)
    content = text_of(config.get("contentdir")) or "content"
    for mount in _mounts(config):
        if text_of(mount.get("target")) == "content" and text_of(mount.get("source")):
            content = text_of(mount.get("source"))
            contributed.append(f"content folder {content} (module mount)")
            break
    content_dir = posixpath.join(profile.root, content) if profile.root else content
    dates = {k: list(v) for k, v in DEFAULT_DATES.items()}
    frontmatter = config.get("frontmatter")
    if isinstance(frontmatter, dict):
        for key, keys in frontmatter.items():
            if str(key).lower() in dates and isinstance(keys, list):
                dates[str(key).lower()] = [str(k) for k in keys]
    permalinks = _permalinks(config.get("permalinks"))
    if permalinks:
        contributed.append(f"permalinks for {', '.join(sorted(permalinks))} ({profile.config})")
    base_url = profile.base_url
    if base_url is None and text_of(config.get("baseurl")).startswith(("http://", "https://")):
        base_url = text_of(config.get("baseurl")).rstrip("/") + "/"
        contributed.append(f"base URL {base_url} ({profile.config})")
    facts = {
        "content": content_dir,
        "dates": dates,
        "permalinks": permalinks,
        "ugly": bool(config.get("uglyurls") is True),
        "lower": config.get("disablepathtolower") is not True,
        "headless": _headless_sections(tree, content_dir),
    }
    return profile.model_copy(
        update={"facts": facts, "base_url": base_url, "contributed": contributed}
    )


def _lowered(config: Mapping[str, Any]) -> dict[str, Any]:
    """Hugo's config keys are case-insensitive (`baseURL` == `baseurl`)."""
    return {str(k).lower(): v for k, v in config.items()}


def _mounts(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    module = config.get("module")
    mounts = module.get("mounts") if isinstance(module, dict) else None
    return [m for m in mounts if isinstance(m, dict)] if isinstance(mounts, list) else []


def _permalinks(value: Any) -> dict[str, str]:
    """Section -> pattern, from the old (`[permalinks] posts = ...`) and the newer
    (`[permalinks.page] posts = ...`) forms; only page patterns are used."""
    if not isinstance(value, dict):
        return {}
    page = value.get("page")
    source = page if isinstance(page, dict) else value
    return {str(k): v for k, v in source.items() if isinstance(v, str)}


def _headless_sections(tree: SiteTree, content_dir: str) -> list[str]:
    """Folders (content-relative) whose pages render nothing: a section whose `_index.md`
    cascades `build.render: never` (or `_build`), or a `headless: true` leaf bundle."""
    found: list[str] = []
    for name in tree.files_under(content_dir):
        base = posixpath.basename(name).lower()
        if base not in ("_index.md", "index.md"):
            continue
        text = tree.text(name)
        if text is None or ("never" not in text and "headless" not in text):
            continue
        try:
            meta = split_front_matter(text)[0]
        except FrontMatterError:  # the parser reports a broken section page, not this
            continue
        own = _never_renders(meta) or meta.get("headless") is True
        cascade = meta.get("cascade")
        cascades = cascade if isinstance(cascade, list) else [cascade]
        if (own and base == "index.md") or any(
            isinstance(c, dict) and _never_renders(c) for c in cascades
        ):
            found.append(posixpath.dirname(under(name, content_dir) or ""))
    return found


def _render_option(meta: Mapping[str, Any]) -> str | None:
    """The page's own `build.render` (or `_build`), lower-cased; None when it sets none."""
    for key in ("build", "_build"):
        options = meta.get(key)
        if isinstance(options, dict) and "render" in options:
            return str(options["render"]).lower()
    return None


def _never_renders(meta: Mapping[str, Any]) -> bool:
    return _render_option(meta) in ("never", "false")


def place(profile: SiteProfile, page: Page) -> Placement:
    facts = profile.facts
    meta = page.meta
    dates = facts.get("dates", DEFAULT_DATES)
    date = _date(meta, dates.get("date", []), page.path)
    updated = _date(meta, dates.get("lastmod", []), page.path)
    aliases = [root_relative(a) for a in strings(meta.get("aliases"))]
    rel = under(page.path, facts.get("content", "content"))
    if rel is None or _is_headless(rel, meta, facts.get("headless", [])):
        return Placement(url=None, aliases=aliases, date=date, updated=updated)
    written = text_of(meta.get("url"))
    if written:
        return Placement(url=root_relative(written), aliases=aliases, date=date, updated=updated)
    folder, name, kind = page_parts(rel)
    if kind == "branch":
        url = folder + "/"
    else:
        slug = text_of(meta.get("slug")) or _name_slug(name, dates.get("date", []))
        parent = posixpath.dirname(folder) if kind == "index" else folder
        pattern = _pattern_for(facts.get("permalinks", {}), parent)
        if pattern:
            url = _fill(pattern, parent, slug, name, page, date)
        else:
            url = f"{parent}/{slug}" + (".html" if facts.get("ugly") else "/")
    url = _urlize(url, facts.get("lower", True))
    return Placement(url=root_relative(url), aliases=aliases, date=date, updated=updated)


def _date(meta: Mapping[str, Any], keys: list[str], path: str) -> str | None:
    for key in keys:
        if key == ":filename":
            found = date_in_name(page_parts(path)[1])[0]
        elif key.startswith(":"):  # :git, :fileModTime: not in a snapshot
            continue
        else:
            found = first_date(meta, (key,))
        if found:
            return found
    return None


def _name_slug(name: str, date_keys: list[str]) -> str:
    """With `:filename` among the date keys, `2024-01-02-x` publishes as `x`."""
    return date_in_name(name)[1] or name if ":filename" in date_keys else name


def _is_headless(rel: str, meta: Mapping[str, Any], headless: list[str]) -> bool:
    """A page's own `build.render` wins over a cascaded one (the glossary section renders
    while its terms do not); a cascade covers the section page that sets it, too."""
    own = _render_option(meta)
    if own is not None:
        return own in ("never", "false")
    if meta.get("headless") is True:
        return True
    return any(rel.startswith(folder + "/") or not folder for folder in headless)


def _pattern_for(permalinks: Mapping[str, str], section_path: str) -> str | None:
    section = section_path.split("/", 1)[0]
    return permalinks.get(section_path) or permalinks.get(section)


def _fill(pattern: str, folder: str, slug: str, name: str, page: Page, date: str | None) -> str:
    year, month, mday = ymd(date)
    tokens = {
        "year": year,
        "month": month,
        "day": mday,
        "section": folder.split("/", 1)[0],
        "sections": folder,
        "title": slugify(page.title) or slug,
        "slug": slug,
        "slugorfilename": slug,
        "slugorcontentbasename": slug,
        "filename": name,
        "contentbasename": name,
    }
    return fill_pattern(pattern, tokens)


def _urlize(path: str, lower: bool) -> str:
    """Hugo's URL path: spaces and other unsafe runs become `-`, lower-cased by default."""
    path = _TITLE_SAFE.sub("-", path.replace(" ", "-"))
    return path.lower() if lower else path


def media_url(profile: SiteProfile, path: str) -> str | None:
    static = posixpath.join(profile.root, "static") if profile.root else "static"
    rel = under(path, static)
    if rel is not None:
        return root_relative(rel)
    content = under(path, profile.facts.get("content", "content"))
    if content is None:
        return None
    # A page resource is published beside its bundle's page.
    folder = posixpath.dirname(content)
    lower = profile.facts.get("lower", True)
    return root_relative(_urlize(folder, lower) + "/" + posixpath.basename(content))
