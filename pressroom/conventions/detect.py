"""Which generator a tree is written for, from the files it holds: its config file
(`_config.yml`, `hugo.toml`, `config.toml` with `base_url`, `astro.config.*`,
`docusaurus.config.*`, `eleventy.config.*`/`.eleventy.js`, `mkdocs.yml`) or, for Jekyll
without one, a `_posts/` folder; else a plain folder. The shallowest config wins (a site in
`docs/` of a code repository), so an example site deep in the tree never decides.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from pressroom.conventions.generators import GENERATORS
from pressroom.conventions.profile import SiteProfile
from pressroom.conventions.site_tree import SiteTree

__all__ = ["MAX_CONFIG_DEPTH", "detect_profile", "is_site_file"]

# A site's config sits at the root or a folder or two down (`docs/`, `website/`); deeper
# ones are examples and fixtures inside a project.
MAX_CONFIG_DEPTH = 2

_JS = r"\.(?:js|mjs|cjs|ts|mts|cts)"
# (profile, config file name), in the order that settles a tie at one depth.
_CONFIGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mkdocs", re.compile(r"mkdocs\.ya?ml")),
    ("docusaurus", re.compile(rf"docusaurus\.config{_JS}")),
    ("astro", re.compile(rf"astro\.config{_JS}")),
    ("eleventy", re.compile(rf"(?:\.eleventy\.js|eleventy\.config{_JS})")),
    ("hugo", re.compile(r"hugo\.(?:toml|ya?ml|json)")),
    ("jekyll", re.compile(r"_config\.ya?ml")),
    ("config", re.compile(r"config\.(?:toml|ya?ml|json)")),  # Hugo or Zola: read to tell
)
# Files besides configs that the rules read: author lists (Docusaurus `blog/authors.yml`,
# the MkDocs blog plugin's `.authors.yml`), found a few folders down.
_AUTHORS = re.compile(r"\.?authors\.ya?ml")
MAX_AUTHORS_DEPTH = MAX_CONFIG_DEPTH + 3
_ZOLA_KEY = re.compile(r"^\s*base_url\s*=", re.MULTILINE)
_HUGO_KEY = re.compile(
    r"^\s*[\"']?(?:baseURL|baseurl|contentDir|languageCode|theme|permalinks|taxonomies)\b",
    re.MULTILINE | re.IGNORECASE,
)


def detect_profile(
    names: list[str],
    read: Callable[[str], bytes],
    *,
    size: Callable[[str], int] | None = None,
    name: str | None = None,
    base_url: str | None = None,
) -> SiteProfile:
    """The tree's profile with its config read. `name` (the job's `data.profile` or
    SITE_PROFILE) overrides detection; `base_url` (`data.baseUrl`) overrides the config's."""
    tree = SiteTree(names, read, size)
    named = name is not None
    found = _find(tree, only=name)
    if name is None:
        name = found[0] if found else "plain"
    root, config = (found[1], found[2]) if found else ("", None)
    if name not in GENERATORS:  # a generator whose rules are not written: plain paths
        name = "plain"
    how = "named by the job" if named else "detected"
    source = f", from {config}" if config else (f", site in {root}/" if root else "")
    contributed = [f"{name} ({how}{source})"]
    if base_url is not None:
        base_url = base_url.rstrip("/") + "/"
        contributed.append(f"base URL {base_url} (data.baseUrl)")
    profile = SiteProfile(
        name=name,
        detected=not named,
        root=root,
        config=config,
        base_url=base_url,
        contributed=contributed,
    )
    profile = GENERATORS[name].configure(profile, tree)
    if tree.notes:
        profile = profile.model_copy(
            update={"contributed": [*profile.contributed, *(f"note: {n}" for n in tree.notes)]}
        )
    return profile


def is_site_file(path: str) -> bool:
    """True for a file the conventions may read (a config, an author list): the fetch step
    keeps these in the snapshot beside posts and images."""
    base = posixpath.basename(path)
    depth = path.count("/")
    if depth <= MAX_CONFIG_DEPTH + 2 and any(p.fullmatch(base) for _, p in _CONFIGS):
        return True  # +2: Hugo's `config/_default/hugo.toml` under a site folder
    return depth <= MAX_AUTHORS_DEPTH and _AUTHORS.fullmatch(base) is not None


def _find(tree: SiteTree, only: str | None) -> tuple[str, str, str | None] | None:
    """(profile, site root, config path) of the shallowest config; with `only`, of that
    generator's. None when there is none."""
    best: tuple[int, int, str, str, str] | None = None
    for path in tree.names:
        depth = path.count("/")
        if depth > MAX_CONFIG_DEPTH + 2:
            continue
        base = posixpath.basename(path)
        for rank, (profile, pattern) in enumerate(_CONFIGS):
            if not pattern.fullmatch(base):
                continue
            if profile == "config":
                profile = _hugo_or_zola(tree, path)
                if profile is None:
                    continue
            if only is not None and profile != only:
                continue
            root = posixpath.dirname(path)
            if root == "config/_default" or root.endswith("/config/_default"):
                root = posixpath.dirname(posixpath.dirname(root))  # Hugo's config folder
                depth -= 2
            if depth > MAX_CONFIG_DEPTH:
                continue
            candidate = (depth, rank, profile, root, path)
            if best is None or candidate < best:
                best = candidate
    if best is None and only in (None, "jekyll") and (root := _posts_root(tree)) is not None:
        return ("jekyll", root, None)
    return None if best is None else (best[2], best[3], best[4])


def _hugo_or_zola(tree: SiteTree, path: str) -> str | None:
    text = tree.text(path) or ""
    # Zola's `base_url` is a top-level key: before the first table (a Hugo `[params]` table
    # may hold a `base_url` of a theme's own).
    top = re.split(r"^\s*\[", text, maxsplit=1, flags=re.MULTILINE)[0]
    if path.endswith(".toml") and _ZOLA_KEY.search(top):
        return "zola"
    return "hugo" if _HUGO_KEY.search(text) else None


def _posts_root(tree: SiteTree) -> str | None:
    """The folder holding the shallowest `_posts/` with a post in it (Jekyll with no config)."""
    roots = sorted(
        (path.count("/"), path.split("/_posts/", 1)[0] if not path.startswith("_posts/") else "")
        for path in tree.names
        if (path.startswith("_posts/") or "/_posts/" in path)
        and path.lower().endswith((".md", ".markdown"))
    )
    return roots[0][1] if roots else None
