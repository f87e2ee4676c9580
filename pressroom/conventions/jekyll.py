"""Jekyll: `_config.yml` (`url`, `baseurl`, `permalink`, `collections`), posts in `_posts/`
named `YYYY-MM-DD-title.md` (and `_drafts/`), collections in `_name/`, pages elsewhere, each
at its `permalink` front matter or the documented default pattern, `redirect_from` aliases.

Site root: the folder of `_config.yml`, else the folder holding the shallowest `_posts/`.
Rules: https://jekyllrb.com/docs/permalinks/ and https://jekyllrb.com/docs/collections/.
"""

from __future__ import annotations

import posixpath
from typing import Any

from pressroom.content.fields import iso_date, text_of
from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import (
    date_in_name,
    fill_pattern,
    page_parts,
    root_relative,
    slugify,
    strings,
    under,
    ymd,
)
from pressroom.conventions.site_tree import SiteTree

__all__ = ["configure", "media_url", "place"]

# The built-in permalink styles (https://jekyllrb.com/docs/permalinks/#built-in-formats).
STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}
DEFAULT_COLLECTION_PERMALINK = "/:collection/:path:output_ext"


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    config = tree.load(profile.config) if profile.config else {}
    facts: dict[str, Any] = {}
    contributed = list(profile.contributed)
    permalink = text_of(config.get("permalink"))
    if permalink:
        facts["permalink"] = permalink
        contributed.append(f"posts at `{permalink}` ({profile.config})")
    collections = config.get("collections")
    if isinstance(collections, dict):
        facts["collections"] = {
            str(name): text_of(spec.get("permalink")) if isinstance(spec, dict) else ""
            for name, spec in collections.items()
        }
    elif isinstance(collections, list):
        facts["collections"] = {str(name): "" for name in collections}
    base_url = profile.base_url
    if base_url is None and text_of(config.get("url")):
        base_url = text_of(config.get("url")).rstrip("/") + "/"
        base_path = text_of(config.get("baseurl")).strip("/")
        if base_path:
            base_url += base_path + "/"
        contributed.append(f"base URL {base_url} ({profile.config})")
    return profile.model_copy(
        update={"facts": facts, "base_url": base_url, "contributed": contributed}
    )


def place(profile: SiteProfile, page: Page) -> Placement:
    rel = under(page.path, profile.root)
    if rel is None:
        return Placement(url=None)
    meta = page.meta
    parts = rel.split("/")
    aliases = [root_relative(a) for a in strings(meta.get("redirect_from"))]
    if "_posts" in parts[:-1] or "_drafts" in parts[:-1]:
        return _post(profile, rel, meta, aliases)
    written = text_of(meta.get("permalink"))
    if parts[0].startswith("_") and len(parts) > 1:
        collection = parts[0][1:]
        pattern = written or profile.facts.get("collections", {}).get(collection) or ""
        folder, name, _kind = page_parts("/".join(parts[1:]), ())
        path = f"{folder}/{name}" if folder else name
        tokens = {
            "collection": collection,
            "path": path,
            "name": slugify(name),
            "title": text_of(meta.get("slug")) or name,
            "slug": text_of(meta.get("slug")) or slugify(name),
            "output_ext": ".html",
        }
        url = fill_pattern(pattern or DEFAULT_COLLECTION_PERMALINK, tokens)
        return Placement(url=root_relative(url), aliases=aliases)
    if written:
        return Placement(url=root_relative(written), aliases=aliases)
    folder, name, _kind = page_parts(rel, ())
    if name == "index":
        return Placement(url=root_relative(folder + "/"), aliases=aliases)
    return Placement(url=root_relative(f"{folder}/{name}.html"), aliases=aliases)


def _post(profile: SiteProfile, rel: str, meta: Any, aliases: list[str]) -> Placement:
    folder, name, _kind = page_parts(rel, ())
    name_date, title = date_in_name(name)
    written_date = iso_date(meta.get("date"))
    date = written_date or name_date
    # Folders around `_posts` are categories too (`news/_posts/x.md` is in "news").
    folder_categories = [p for p in folder.split("/") if p and p not in ("_posts", "_drafts")]
    categories = [
        *folder_categories,
        *strings(meta.get("category")),
        *_terms(meta.get("categories")),
    ]
    written = text_of(meta.get("permalink"))
    pattern = written or profile.facts.get("permalink") or "date"
    pattern = STYLES.get(pattern, pattern)
    year, month, mday = ymd(date)
    slug = text_of(meta.get("slug")) or title
    tokens = {
        # Jekyll's URL drop lower-cases categories and keeps their words as written.
        "categories": "/".join(dict.fromkeys(c.lower() for c in categories)),
        "year": year,
        "month": month,
        "day": mday,
        "i_month": month.lstrip("0"),
        "i_day": mday.lstrip("0"),
        "short_year": year[2:],
        "title": slug,
        "slug": slugify(slug),
        "output_ext": ".html",
        "name": title,
    }
    url = fill_pattern(pattern, tokens)
    draft = True if "_drafts" in rel.split("/")[:-1] else None
    return Placement(url=root_relative(url), aliases=aliases, date=date, draft=draft)


def _terms(value: Any) -> list[str]:
    """`categories: a b` (a space-separated string, as Jekyll reads it) or a list."""
    if isinstance(value, str):
        return value.split()
    return strings(value)


def media_url(profile: SiteProfile, path: str) -> str | None:
    rel = under(path, profile.root)
    # Jekyll copies static files, except those in folders starting with "_" or ".".
    if rel is None or any(p.startswith(("_", ".")) for p in posixpath.dirname(rel).split("/") if p):
        return None
    return root_relative(rel)
