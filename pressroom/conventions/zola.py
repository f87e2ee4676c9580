"""Zola: `config.toml` (`base_url`, `[slugify] paths` and `paths_keep_dates`, `languages`);
pages in `content/` at `/{section path}/{slug}/`, a page bundle (`x/index.md`) named by its
folder, a section (`_index.md`) at its folder unless `render = false`; a date (and `_` or
`-`) at the start of a file or bundle folder name is the page's date when the front matter
has none, and leaves the slug; `slug` and `path` front matter, `date`/`updated`, `aliases`,
`[taxonomies]`, `authors` (else a theme's `[extra] author(s)`), `draft`, page
`render = false`. `static/` is served at `/`; a bundle's assets beside its page.

Folders of the section path are not slugified (Zola uses them as written); `path` is used
as written too. Rules:
https://www.getzola.org/documentation/content/page/ (file names, dates, front matter),
https://www.getzola.org/documentation/content/section/ (`render`),
https://www.getzola.org/documentation/content/overview/ (asset colocation, static/),
https://www.getzola.org/documentation/getting-started/configuration/ (`slugify`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from pressroom.content.fields import text_of
from pressroom.content.frontmatter import FrontMatterError, split_front_matter
from pressroom.content.media import is_image_path
from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import (
    date_in_name,
    first_date,
    page_parts,
    root_relative,
    slugify,
    static_url,
    strings,
    under,
)
from pressroom.conventions.site_tree import SiteTree

__all__ = ["configure", "media_url", "place"]

# Characters NTFS forbids, which slugify.paths = "safe" removes (Zola's utils::slugs).
_UNSAFE = str.maketrans("", "", '<>:"/\\|?*')


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    config = tree.load(profile.config) if profile.config else {}
    contributed = list(profile.contributed)
    options = config.get("slugify") if isinstance(config.get("slugify"), dict) else {}
    languages = config.get("languages")
    facts: dict[str, Any] = {
        "content": posixpath.join(profile.root, "content") if profile.root else "content",
        "slugify": text_of(options.get("paths")) or "on",
        "keep_dates": options.get("paths_keep_dates") is True,
        "languages": sorted(str(k) for k in languages) if isinstance(languages, dict) else [],
    }
    if facts["slugify"] != "on":
        contributed.append(f"slugify.paths = {facts['slugify']} ({profile.config})")
    facts["bundles"] = _moved_bundles(tree, profile.model_copy(update={"facts": facts}))
    base_url = profile.base_url
    if base_url is None and text_of(config.get("base_url")).startswith(("http://", "https://")):
        base_url = text_of(config.get("base_url")).rstrip("/") + "/"
        contributed.append(f"base URL {base_url} ({profile.config})")
    return profile.model_copy(
        update={"facts": facts, "base_url": base_url, "contributed": contributed}
    )


def _moved_bundles(tree: SiteTree, profile: SiteProfile) -> dict[str, str]:
    """Bundle folder (content-relative) -> its page's URL, for bundles with images whose URL
    is not their folder path (a dated name, `slug`, `path`): their images are served there."""
    content = profile.facts["content"]
    folders: set[str] = set()
    for name in tree.files_under(content):
        folder = posixpath.dirname(under(name, content) or "") if is_image_path(name) else ""
        while folder and folder not in folders:  # an image may sit in a bundle's subfolder
            folders.add(folder)
            folder = posixpath.dirname(folder)
    moved: dict[str, str] = {}
    for folder in sorted(folders):
        index = posixpath.join(content, folder, "index.md")
        text = tree.text(index) if tree.has(index) else None
        if text is None:
            continue
        try:
            meta = split_front_matter(text)[0]
        except FrontMatterError:  # the parser reports the page itself
            meta = {}
        url = place(profile, Page(path=index, meta=meta)).url
        if url is not None and url != root_relative(folder + "/"):
            moved[folder] = url
    return moved


def place(profile: SiteProfile, page: Page) -> Placement:
    facts = profile.facts
    meta = page.meta
    rel = under(page.path, facts.get("content", "content"))
    aliases = [root_relative(a) for a in strings(meta.get("aliases"))]
    if rel is None:
        return Placement(url=None)
    folder, name, kind = page_parts(rel)
    if kind == "branch":  # a section: no date, no slug of its own
        url = None if meta.get("render") is False else root_relative(folder + "/")
        return Placement(url=url, aliases=aliases, draft=_draft(meta))
    parent = posixpath.dirname(folder) if kind == "index" else folder
    name, lang = _language(name, facts.get("languages", []))
    name_date, rest = date_in_name(name)
    if not rest:  # Zola wants a name after the date
        name_date = None
    date = first_date(meta, ("date",)) or name_date
    written_path = text_of(meta.get("path"))
    if meta.get("render") is False:
        url = None
    elif written_path:
        url = root_relative("/" + written_path.lstrip("/").rstrip("/") + "/")
    else:
        keep = facts.get("keep_dates", False) or name_date is None
        slug = _slugify(text_of(meta.get("slug")) or (name if keep else rest), facts)
        url = root_relative(posixpath.join("/", lang, parent, slug) + "/")
    return Placement(
        url=url,
        aliases=aliases,
        date=date,
        updated=first_date(meta, ("updated",)),
        authors=_authors(meta),
        draft=_draft(meta),
        tags=_taxonomy(meta, "tags"),
        categories=_taxonomy(meta, "categories"),
    )


def _language(name: str, languages: list[str]) -> tuple[str, str]:
    """`post.fr` (a translation, `{slug}.{lang}.md`) -> ("post", "fr")."""
    stem, dot, lang = name.rpartition(".")
    return (stem, lang) if dot and lang in languages else (name, "")


def _slugify(text: str, facts: Mapping[str, Any]) -> str:
    strategy = facts.get("slugify", "on")
    if strategy == "off":
        return text
    if strategy == "safe":
        return text.rstrip(" .").translate(_UNSAFE)
    return slugify(text)


def _authors(meta: Mapping[str, Any]) -> list[str] | None:
    """`authors` (Zola 0.19+), else a theme's `[extra] author`/`authors`."""
    extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
    for value in (meta.get("authors"), extra.get("authors"), extra.get("author")):
        names = strings(value)
        if names:
            return names
    return None


def _draft(meta: Mapping[str, Any]) -> bool | None:
    return True if meta.get("draft") is True else None


def _taxonomy(meta: Mapping[str, Any], name: str) -> list[str] | None:
    taxonomies = meta.get("taxonomies")
    if not isinstance(taxonomies, dict):
        return None
    return strings(taxonomies.get(name)) or None


def media_url(profile: SiteProfile, path: str) -> str | None:
    static = static_url(profile.root, path)
    if static is not None:
        return static
    rel = under(path, profile.facts.get("content", "content"))
    if rel is None:
        return None
    # A bundle's assets are copied beside its page (under the page's URL); a section's
    # beside the section (its folder path).
    folder = posixpath.dirname(rel)
    while folder:
        moved = profile.facts.get("bundles", {}).get(folder)
        if moved is not None:
            return root_relative(moved + rel[len(folder) + 1 :])
        folder = posixpath.dirname(folder)
    return root_relative(rel)
