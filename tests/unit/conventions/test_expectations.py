"""Every post's URL, dates and authors against expectations written by hand from each
generator's documentation (tests/data/sites/, see its README): five small fixture sites
(Zola, Astro, Docusaurus, Eleventy, MkDocs) and a sample of 20+ pages of each shared corpus.

The tree is profiled and parsed as the parse step does (`detect_profile` over the file list,
then `parse_post` with the profile); only the keys an expectation writes are compared.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from pressroom.content.posts import is_post_path, parse_post
from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import media_url
from pressroom.conventions.profile import SiteProfile
from tests.conftest import CORPORA

SITES = Path(__file__).parents[2] / "data" / "sites"
FIXTURES = ("zola", "astro", "docusaurus", "eleventy", "mkdocs")
CORPUS_NAMES = ("hugo-docs", "go-blog", "jekyll-docs")
COMPARED = ("url", "date", "updated", "aliases", "authors", "draft", "tags", "categories")


def _tree(root: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
        for folder, _dirs, names in os.walk(root)
        for name in names
        if name != "expected.yaml"
    )


def _site(name: str) -> tuple[Path, dict[str, Any]]:
    if name in FIXTURES:
        return SITES / name, yaml.safe_load((SITES / name / "expected.yaml").read_text())
    expected = yaml.safe_load((SITES / "expected" / f"{name}.yaml").read_text())
    return CORPORA / name, expected


def _profile(root: Path, names: list[str]) -> SiteProfile:
    return detect_profile(
        names, lambda p: (root / p).read_bytes(), size=lambda p: (root / p).stat().st_size
    )


def _actual(root: Path, names: list[str], path: str, profile: SiteProfile) -> dict[str, Any]:
    post = parse_post(
        path, (root / path).read_bytes(), known_files=frozenset(names), profile=profile
    )
    return post.model_dump(include=set(COMPARED))


@pytest.mark.parametrize("name", [*FIXTURES, *CORPUS_NAMES])
def test_posts_are_where_the_generator_publishes_them(name: str) -> None:
    root, expected = _site(name)
    names = _tree(root)
    profile = _profile(root, names)
    assert profile.name == expected["profile"], profile.contributed
    assert profile.base_url == expected["base_url"]
    wrong: list[str] = []
    for path, want in expected["posts"].items():
        assert path in names, f"{path} is not in {root}"
        got = _actual(root, names, path, profile)
        for key, value in want.items():
            if key in COMPARED and got[key] != (
                value if value is not None or key != "aliases" else []
            ):
                wrong.append(f"{path}: {key} is {got[key]!r}, expected {value!r}")
    assert not wrong, "\n".join(wrong)
    posts = [n for n in names if is_post_path(n)]
    if name in FIXTURES:  # a fixture's expectations cover every post it holds
        assert sorted(expected["posts"]) == posts
    else:
        assert len(expected["posts"]) >= 20


@pytest.mark.parametrize("name", [*FIXTURES, *CORPUS_NAMES])
def test_images_are_where_the_generator_serves_them(name: str) -> None:
    root, expected = _site(name)
    names = _tree(root)
    profile = _profile(root, names)
    media = expected.get("media") or {}
    got = {path: media_url(profile, path) for path in media}
    assert got == media


def _shows_a_date(corpus: str, path: str, meta: dict[str, Any]) -> bool:
    """Pages whose generator shows a date: the Go blog's articles (every page but the
    index, the archive, the READMEs and redirect stubs), Jekyll's posts, and Hugo pages that
    write one of hugo.toml's `[frontmatter] date` keys (none in hugo-docs: its `date:` lines
    are all inside code samples)."""
    if corpus == "go-blog":
        skip = ("blog/index.md", "blog/all.md", "blog/README.md")
        return path not in skip and path != "README.md" and "redirect" not in meta
    if corpus == "jekyll-docs":
        return "/_posts/" in path
    return "date" in meta


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_at_least_99_percent_of_dated_pages_have_a_date(name: str) -> None:
    root = CORPORA / name
    names = _tree(root)
    profile = _profile(root, names)
    dated = undated = 0
    for path in (n for n in names if is_post_path(n)):
        post = parse_post(path, (root / path).read_bytes(), profile=profile)
        if _shows_a_date(name, path, post.front_matter):
            dated += post.date is not None
            undated += post.date is None
    assert dated + undated == 0 or dated / (dated + undated) >= 0.99, (dated, undated)
    if name != "hugo-docs":
        assert dated >= 100  # the rule found the articles, not an empty set
