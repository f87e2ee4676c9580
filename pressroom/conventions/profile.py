"""The shapes of site conventions: a `SiteProfile` (what the tree's generator and config say,
found once per job and carried to every parse process), a `Page` (one post as the rules see
it) and a `Placement` (what the rules make of it: URL, aliases, dates, authors, draft state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Page", "Placement", "SiteProfile"]


class SiteProfile(BaseModel):
    """One site's generator and the facts of its config that decide URLs and dates.

    JSON-safe and small: it travels to the parse step's child processes, into the job result
    and into `manifest.json`. `contributed` says, in words, what the profile took from the
    tree (shown to users, so they can see why a URL came out as it did).
    """

    model_config = ConfigDict(frozen=True)

    name: str  # one of names.PROFILE_NAMES
    detected: bool = True  # False: named by the job (`data.profile`) or SITE_PROFILE
    root: str = ""  # the site's folder in the tree ("" = the tree's root)
    config: str | None = None  # the config file read, tree-relative
    base_url: str | None = None  # ends with "/" when set
    # Generator facts read from the config, by the generator module that reads them
    # (e.g. Hugo's content folder and permalinks, Docusaurus' route base paths).
    facts: dict[str, Any] = Field(default_factory=dict)
    authors: dict[str, str] = Field(default_factory=dict)  # author key -> display name
    contributed: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Page:
    """One post: its tree-relative path, its front matter and the title the parser chose."""

    path: str
    meta: Mapping[str, Any]
    title: str = ""


@dataclass
class Placement:
    """What a generator makes of a page. `url` is root-relative (`/blog/x/`), None when the
    generator renders no page for it; None in `date`, `updated`, `authors`, `draft` leaves
    the generic front matter reading (pressroom.content.fields) in place."""

    url: str | None
    aliases: list[str] = field(default_factory=list)
    date: str | None = None
    updated: str | None = None
    authors: list[str] | None = None
    draft: bool | None = None
    tags: list[str] | None = None
    categories: list[str] | None = None
