"""A plain folder of Markdown (no generator found): each post is published at its path
without the suffix (`blog/x.md` -> `/blog/x`, a bundle `blog/x/index.md` -> `/blog/x/`), as
a server that maps paths to files (golang.org/x/website's blog) does; images at their path.
A README and a `redirect:` stub are no page.
"""

from __future__ import annotations

import posixpath

from pressroom.content.fields import text_of
from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import page_parts, root_relative, under
from pressroom.conventions.site_tree import SiteTree

__all__ = ["configure", "media_url", "place"]


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    return profile


def place(profile: SiteProfile, page: Page) -> Placement:
    rel = under(page.path, profile.root)
    # A README documents the repository, and a `redirect:` stub is served as a redirect to
    # another page: neither is a page of its own.
    if (
        rel is None
        or posixpath.basename(rel).lower().startswith("readme.")
        or text_of(page.meta.get("redirect"))
    ):
        return Placement(url=None)
    folder, name, kind = page_parts(rel)
    if kind != "leaf":
        return Placement(url=root_relative(folder + "/"))
    return Placement(url=root_relative(f"{folder}/{name}"))


def media_url(profile: SiteProfile, path: str) -> str | None:
    rel = under(path, profile.root)
    return None if rel is None else root_relative(rel)
