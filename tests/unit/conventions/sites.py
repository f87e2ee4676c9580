"""In-memory trees for the conventions tests: path -> text, profiled and placed as a job
would (detect_profile, then place_page on each post's front matter)."""

from __future__ import annotations

from pressroom.content.frontmatter import split_front_matter
from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import place_page
from pressroom.conventions.profile import Page, Placement, SiteProfile


def profile_of(
    files: dict[str, str], *, name: str | None = None, base_url: str | None = None
) -> SiteProfile:
    data = {path: text.encode() for path, text in files.items()}
    return detect_profile(list(data), data.__getitem__, name=name, base_url=base_url)


def placed(profile: SiteProfile, path: str, text: str) -> Placement:
    meta = split_front_matter(text)[0]
    return place_page(profile, Page(path=path, meta=meta, title=str(meta.get("title", ""))))
