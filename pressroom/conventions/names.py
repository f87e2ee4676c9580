"""The names of the site profiles a job may ask for (`data.profile`, `SITE_PROFILE`)."""

from __future__ import annotations

__all__ = ["PROFILE_NAMES"]

# "plain": a folder of Markdown, published at its paths (no generator's rules).
PROFILE_NAMES = ("jekyll", "hugo", "zola", "astro", "docusaurus", "eleventy", "mkdocs", "plain")
