"""Eleventy: `eleventy.config.*` / `.eleventy.js` (the input folder from a literal
`dir: { input: "src" }`, `setInputDirectory("src")` or `--input` in package.json's scripts;
`pathPrefix`; object-form `addPassthroughCopy({ "from": "to" })`); each template at
`/{path}/` (the full file name, a date prefix included; `index` and a file named like its
folder at the folder), or at its `permalink` front matter: a static string, or a template
using `page.fileSlug` (the name without a date prefix), `page.filePathStem`, `page.date`,
front matter values and the `slugify`/`slug`/`lower`/`date` filters (`permalink: false`:
no page; a template we cannot evaluate: no URL rather than a guessed one). The date is the
`date` front matter, else a `YYYY-MM-DD` anywhere in the path. Files in `_includes/` and
`_data/` are no pages. Passthrough-copied images keep their input-relative path.

Rules: https://www.11ty.dev/docs/permalinks/, https://www.11ty.dev/docs/data-eleventy-supplied/
(fileSlug, filePathStem), https://www.11ty.dev/docs/dates/, https://www.11ty.dev/docs/config/
(input directory, pathPrefix), https://www.11ty.dev/docs/copy/.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from pressroom.content.fields import iso_date, text_of
from pressroom.conventions.profile import Page, Placement, SiteProfile
from pressroom.conventions.rules import (
    date_in_path,
    first_date,
    page_parts,
    prefixed,
    root_relative,
    site_base,
    slugify,
    strings,
    tree_path,
    under,
)
from pressroom.conventions.site_tree import SiteTree, js_block, js_code, js_value

__all__ = ["configure", "media_url", "place"]

_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")
_OUTPUT = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_INPUT_CALL = re.compile(r"setInputDirectory\(\s*['\"`]([^'\"`]+)['\"`]")
_INPUT_FLAG = re.compile(r"--input[= ]['\"]?([^\s'\"&;]+)")
_PASSTHROUGH_MAP = re.compile(r"addPassthroughCopy\(\s*\{([^}]*)\}")
_PAIR = re.compile(r"['\"`]([^'\"`]+)['\"`]\s*:\s*['\"`]([^'\"`]*)['\"`]")
# Liquid's strftime directives Python's strftime reads the same way.
_STRFTIME = re.compile(r"%[aAbBdHjmMpSyYZ%]")


def configure(profile: SiteProfile, tree: SiteTree) -> SiteProfile:
    text = js_code(tree.text(profile.config) or "") if profile.config else ""
    contributed = list(profile.contributed)
    written = js_value(js_block(text, "dir") or "", "input") or _input_elsewhere(
        tree, profile, text
    )
    input_dir = tree_path(profile.root, written or ".")
    if written:
        contributed.append(f"input folder {input_dir}/ ({profile.config})")
    base_url, prefix = site_base(profile.base_url, None, js_value(text, "pathPrefix"))
    if prefix:
        contributed.append(f"path prefix {prefix} ({profile.config})")
    copies = {
        tree_path(profile.root, source): dest.strip("/")
        for block in _PASSTHROUGH_MAP.findall(text)
        for source, dest in _PAIR.findall(block)
    }
    facts = {"input": input_dir, "prefix": prefix, "copies": copies}
    return profile.model_copy(
        update={"facts": facts, "base_url": base_url, "contributed": contributed}
    )


def _input_elsewhere(tree: SiteTree, profile: SiteProfile, text: str) -> str | None:
    """`eleventyConfig.setInputDirectory("src")` (v3), or `eleventy --input=src` in a script."""
    call = _INPUT_CALL.search(text)
    if call:
        return call.group(1)
    scripts = tree.load(posixpath.join(profile.root, "package.json")).get("scripts")
    for script in scripts.values() if isinstance(scripts, dict) else []:
        flag = _INPUT_FLAG.search(str(script)) if "eleventy" in str(script) else None
        if flag:
            return flag.group(1)
    return None


def place(profile: SiteProfile, page: Page) -> Placement:
    facts = profile.facts
    meta = page.meta
    rel = under(page.path, facts.get("input", ""))
    if rel is None or rel.split("/", 1)[0] in ("_includes", "_data", "node_modules"):
        return Placement(url=None)
    date = first_date(meta, ("date",)) or date_in_path(rel)
    permalink = meta.get("permalink")
    if permalink is False:
        url = None
    elif text_of(permalink):
        url = _permalink(text_of(permalink), rel, meta, page.title, date)
    else:
        folder, name, kind = page_parts(rel, ("index",))
        same = kind == "leaf" and name == posixpath.basename(folder)
        url = root_relative(folder + "/" if kind == "index" or same else f"{folder}/{name}/")
    tags = strings(meta.get("tags")) or None
    return Placement(url=prefixed(facts.get("prefix", ""), url), date=date, tags=tags)


def _permalink(
    written: str, rel: str, meta: Mapping[str, Any], title: str, date: str | None
) -> str | None:
    """A permalink as its URL: `x/` and `x/index.html` at `/x/`, `x.html` as written."""
    if "{%" in written:
        return None
    values = _values(rel, meta, title, date)
    failed = False

    def output(match: re.Match[str]) -> str:
        nonlocal failed
        value = _evaluate(match.group(1), values)
        failed = failed or value is None
        return value or ""

    url = _OUTPUT.sub(output, written)
    if failed or "{{" in url:
        return None
    if posixpath.basename(url) == "index.html":
        url = posixpath.dirname(url) + "/"
    return root_relative(url)


def _values(rel: str, meta: Mapping[str, Any], title: str, date: str | None) -> dict[str, Any]:
    folder, name, _kind = page_parts(rel, ())
    slug = _DATE_PREFIX.sub("", name)
    if slug == "index":
        slug = posixpath.basename(folder)
    values: dict[str, Any] = {str(k): v for k, v in meta.items()}
    values.setdefault("title", title)
    values["page"] = {
        "fileSlug": slug,
        "filePathStem": f"/{folder}/{name}" if folder else f"/{name}",
        "date": date,
    }
    return values


def _evaluate(expression: str, values: Mapping[str, Any]) -> str | None:
    """`page.fileSlug | slugify`, `title | slug`, `page.date | date: '%Y/%m'` (Liquid) or
    `date('%Y')`; None for anything else (an unknown filter or name)."""
    head, *filters = [part.strip() for part in expression.split("|")]
    value = _lookup(head, values)
    for spec in filters:
        if re.match(r"^\w+\s*\(", spec):  # Nunjucks: date("%Y")
            name, _, argument = spec.rstrip(")").partition("(")
        else:  # Liquid: date: "%Y"
            name, _, argument = spec.partition(":")
        name = name.strip()
        value = _filter(name, argument.strip().strip("'\""), value)
        if value is None:
            return None
    return value


def _lookup(name: str, values: Mapping[str, Any]) -> str | None:
    if len(name) > 1 and name[0] == name[-1] and name[0] in "'\"":
        return name[1:-1]
    value: Any = values
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return text_of(value) or None


def _filter(name: str, argument: str, value: str) -> str | None:
    if name in ("slugify", "slug"):
        # @sindresorhus/slugify splits camelCase words (`fooBar` -> `foo-bar`).
        return slugify(
            re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", value) if name == "slugify" else value
        )
    if name in ("lower", "downcase"):
        return value.lower()
    if name == "url":
        return value
    if name == "date" and argument and not _STRFTIME.sub("", argument).count("%"):
        day = iso_date(value)
        if day is None:
            return None
        return dt.datetime.fromisoformat(day).strftime(argument)
    return None


def media_url(profile: SiteProfile, path: str) -> str | None:
    prefix = profile.facts.get("prefix", "")
    for source, dest in profile.facts.get("copies", {}).items():
        rel = under(path, source)
        if rel is not None:
            return prefixed(prefix, root_relative(f"{dest}/{rel}"))
    # Passthrough copies keep their path, less the input folder.
    rel = under(path, profile.facts.get("input", ""))
    if rel is None:
        rel = under(path, profile.root)
    return None if rel is None else prefixed(prefix, root_relative(rel))
