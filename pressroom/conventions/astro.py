"""Astro: `astro.config.(mjs|js|ts)` literals (`site`, `base`, `trailingSlash`, `srcDir`,
`build.format`); content collection entries (`src/content/{collection}/**`, or a `glob()`
loader's literal `base` in `src/content.config.ts`) at `/{route}/{id}/`, where the id is the
entry path with each segment slugged (github-slugger, as the glob loader does), `/index`
dropped, or the `slug` front matter; the route is the folder of a dynamic page
(`src/pages/posts/[...slug].astro`) that calls `getCollection('name')`, else the
collection's name. Markdown in `src/pages/` is routed by its file path (`_` files and
folders excluded, `[param]` files need data we do not have). Dates come only from
`pubDate`/`date`/`publishDate` and `updatedDate` (Astro reads none from file names);
`public/` is served at `/`; images in `src/` are hashed by the build (no stable URL).

Rules: https://docs.astro.build/en/reference/configuration-reference/,
https://docs.astro.build/en/guides/content-collections/,
https://docs.astro.build/en/reference/content-loader-reference/#glob-loader,
https://docs.astro.build/en/guides/routing/, https://docs.astro.build/en/guides/images/.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import (
    first_date,
    page_parts,
    prefixed,
    root_relative,
    site_base,
    static_url,
    tree_path,
    under,
)
from pressroom.conventions.site_tree import SiteTree, js_block, js_code, js_value

__all__ = ["configure", "media_url", "place"]

# `const blog = defineCollection({ loader: glob({ ..., base: './src/data/blog' }) ...`
_GLOB_COLLECTION = re.compile(
    r"\b(\w+)\s*=\s*defineCollection\(\s*\{[^;]*?glob\(\s*\{([^}]*)\}", re.DOTALL
)
_GET_COLLECTION = re.compile(r"getCollection\(\s*['\"`]([\w-]+)['\"`]")
_ENTRY_ROUTE = re.compile(r"^\[(?:\.\.\.)?(?:slug|id|path|post|entry)\]\.(?:astro|md|mdx|js|ts)$")


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    text = js_code(tree.text(profile.config) or "") if profile.config else ""
    contributed = list(profile.contributed)
    src = tree_path(profile.root, js_value(text, "srcDir") or "src")
    build = js_block(text, "build") or ""
    base_url, prefix = site_base(profile.base_url, js_value(text, "site"), js_value(text, "base"))
    if base_url is not None and profile.base_url is None:
        contributed.append(f"base URL {base_url} ({profile.config})")
    elif prefix:
        contributed.append(f"base path {prefix} ({profile.config})")
    collections = _collections(tree, profile.root, src)
    routes = _routes(tree, posixpath.join(src, "pages"))
    facts: dict[str, Any] = {
        "src": src,
        "public": tree_path(profile.root, js_value(text, "publicDir") or "public"),
        "prefix": prefix,
        "trailing": js_value(text, "trailingSlash") or "ignore",
        "file_format": js_value(build, "format") == "file",
        "collections": collections,
        "routes": routes,
    }
    for name, folder in sorted(collections.items()):
        route = routes.get(name, name)
        contributed.append(f"collection {name} ({folder}/) at /{route}/")
    return profile.model_copy(
        update={"facts": facts, "base_url": base_url, "contributed": contributed}
    )


def _collections(tree: SiteTree, root: str, src: str) -> dict[str, str]:
    """Collection name -> its folder: each folder of `src/content/` (the legacy layout), and
    each `glob()` loader with a literal `base` in the content config."""
    content = posixpath.join(src, "content")
    found = {
        rel.split("/", 1)[0]: posixpath.join(content, rel.split("/", 1)[0])
        for name in tree.files_under(content)
        if (rel := under(name, content)) and "/" in rel and not rel.startswith(("_", "."))
    }
    for config in ("content.config.ts", "content.config.mjs", "content.config.js"):
        text = tree.text(posixpath.join(src, config)) or tree.text(
            posixpath.join(content, config.replace("content.", ""))
        )
        for name, options in _GLOB_COLLECTION.findall(js_code(text or "")):
            base = js_value(options, "base")
            if base:  # relative to the project root
                found[name] = tree_path(root, base)
    return found


def _routes(tree: SiteTree, pages: str) -> dict[str, str]:
    """Collection name -> the folder of the dynamic page that publishes its entries."""
    routes: dict[str, str] = {}
    for name in tree.files_under(pages):
        if not _ENTRY_ROUTE.match(posixpath.basename(name)):
            continue
        folder = posixpath.dirname(under(name, pages) or "")
        for collection in _GET_COLLECTION.findall(tree.text(name) or ""):
            routes.setdefault(collection, folder)
    return routes


def place(profile: SiteProfile, page: Page) -> Placement:
    facts = profile.facts
    meta = page.meta
    url = _entry_url(profile, page) or _page_url(profile, page.path)
    return Placement(
        url=prefixed(facts.get("prefix", ""), url),
        date=first_date(meta, ("pubDate", "date", "publishDate")),
        updated=first_date(meta, ("updatedDate", "updated")),
    )


def _entry_url(profile: SiteProfile, page: Page) -> str | None:
    facts = profile.facts
    for name, folder in facts.get("collections", {}).items():
        rel = under(page.path, folder)
        if rel is None:
            continue
        slug = page.meta.get("slug")
        entry_id = slug.strip("/") if isinstance(slug, str) and slug.strip() else _entry_id(rel)
        route = facts.get("routes", {}).get(name, name)
        return _finish(profile, f"{route}/{entry_id}")
    return None


def _entry_id(rel: str) -> str:
    """The glob loader's default id: each path segment slugged, the suffix and `/index` gone."""
    folder, name, kind = page_parts(rel, ("index",))
    segments = [*folder.split("/")] if kind == "index" else [*folder.split("/"), name]
    return "/".join(_github_slug(s) for s in segments if s)


def _github_slug(text: str) -> str:
    """github-slugger: lower-cased, punctuation dropped, each space a `-`."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def _page_url(profile: SiteProfile, path: str) -> str | None:
    rel = under(path, posixpath.join(profile.facts.get("src", "src"), "pages"))
    if rel is None or any(p.startswith("_") or "[" in p for p in rel.split("/")):
        return None
    folder, name, kind = page_parts(rel, ("index",))
    return _finish(profile, folder if kind == "index" else f"{folder}/{name}")


def _finish(profile: SiteProfile, path: str) -> str:
    """A route path as its URL: `.html` with `build.format: 'file'`, a trailing slash unless
    `trailingSlash: 'never'` (the default 'ignore' serves the folder's index.html at `/x/`)."""
    path = path.strip("/")
    if not path:
        return "/"
    if profile.facts.get("file_format"):
        return root_relative(path + ".html")
    slash = "" if profile.facts.get("trailing") == "never" else "/"
    return root_relative(path + slash)


def media_url(profile: SiteProfile, path: str) -> str | None:
    facts = profile.facts
    return static_url("", path, facts.get("public", "public"), facts.get("prefix", ""))
