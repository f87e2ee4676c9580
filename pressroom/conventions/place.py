"""Where a page and an image are published, as the job's `SiteProfile` says: the generator's
rules (pressroom.conventions.generators), then what every site shares: URLs made absolute
under the base URL, a date read from a `/YYYY/MM/DD/` URL when it is written nowhere else,
author keys resolved to names.
"""

from __future__ import annotations

from pressroom.conventions.generators import GENERATORS
from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import absolute, date_in_url

__all__ = ["media_url", "place_page", "resolve_authors"]


def place_page(profile: SiteProfile, page: Page) -> Placement:
    placed = GENERATORS[profile.name].place(profile, page)
    if placed.date is None and placed.url is not None:
        placed.date = date_in_url(placed.url)
    placed.url = absolute(profile.base_url, placed.url)
    if placed.authors is not None:
        placed.authors = resolve_authors(profile, placed.authors)
    return placed


def resolve_authors(profile: SiteProfile, authors: list[str]) -> list[str]:
    """Author keys (`authors: [jane]` with an `authors.yml`) as their names, in order, once."""
    return list(dict.fromkeys(profile.authors.get(a, a) for a in authors))


def media_url(profile: SiteProfile, path: str) -> str | None:
    return absolute(profile.base_url, GENERATORS[profile.name].media_url(profile, path))
