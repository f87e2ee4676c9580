"""A plain folder of Markdown (no generator found): each post is published at its path
without the suffix (`blog/x.md` -> `/blog/x`, a bundle `blog/x/index.md` -> `/blog/x/`), as
a server that maps paths to files (golang.org/x/website's blog) does; images at their path.
"""

from __future__ import annotations

from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import page_parts, root_relative, under
from pressroom.conventions.site_tree import SiteTree

__all__ = ["configure", "media_url", "place"]


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    return profile


def place(profile: SiteProfile, page: Page) -> Placement:
    rel = under(page.path, profile.root)
    if rel is None:
        return Placement(url=None)
    folder, name, kind = page_parts(rel, ("index", "_index", "readme"))
    if kind != "leaf":
        return Placement(url=root_relative(folder + "/"))
    return Placement(url=root_relative(f"{folder}/{name}"))


def media_url(profile: SiteProfile, path: str) -> str | None:
    rel = under(path, profile.root)
    return None if rel is None else root_relative(rel)
