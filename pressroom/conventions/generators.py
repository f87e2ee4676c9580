"""The generator modules by profile name. Each module offers the same three functions:
`configure(profile, tree)` reads its config into the profile, `place(profile, page)` says
where a page is published and when, `media_url(profile, path)` where an image is served.
"""

from __future__ import annotations

from types import ModuleType

from pressroom.conventions import astro, docusaurus, eleventy, hugo, jekyll, mkdocs, plain, zola

__all__ = ["GENERATORS"]

GENERATORS: dict[str, ModuleType] = {
    "jekyll": jekyll,
    "hugo": hugo,
    "zola": zola,
    "astro": astro,
    "docusaurus": docusaurus,
    "eleventy": eleventy,
    "mkdocs": mkdocs,
    "plain": plain,
}
