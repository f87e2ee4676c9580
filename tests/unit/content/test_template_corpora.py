"""Template syntax on the three shared corpora (go-blog, hugo-docs, jekyll-docs), every post
parsed as the parse step parses it (`parse_post` with every file of the tree known).

The rule: no template syntax that the site generator would have executed leaks into a
section's plain text (heading included) or the post's excerpt. Template syntax that the
generator *shows* is content: the Hugo and Jekyll docs teach templates, and their code blocks
and code spans hold `{{ .Title }}` and `{% include x %}` as examples. So the check runs on
the pre-pass alone (content.template_syntax with `scrub`, the safety net that strips the
delimiters of leftovers from plain text, turned off): outside what the rendered page shows
as code (`<pre>` lines and `<code>` spans of the post's HTML), no `{{`, `{%`, `%}`, `>}}` or
`}}` after a blank or quote (the remnant of a call cut short) may remain. With the safety net
on, as in production, no `{{` or `{%` remains anywhere. The go.dev site runs its template
calls over the whole page, code included, so on go-blog none of them may remain at all.

Image shortcodes (go.dev `{{image "x.jpg"}}`, Hugo `figure`/`img`/`imgproc`/`image`) must
become image references resolved to the file, so the media index lists the post under it.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterator
from functools import cache
from unittest import mock

import pytest

from pressroom.content import extract, sections, tree_text
from pressroom.content.fences import fenced_code, inside
from pressroom.content.frontmatter import split_front_matter
from pressroom.content.media import attach_references, describe_image
from pressroom.content.posts import is_post_path, parse_post, post_id
from pressroom.models import Post
from tests.conftest import CORPORA

CORPUS_NAMES = ("go-blog", "hugo-docs", "jekyll-docs")
_SYNTAX = re.compile(r"\{\{|\{%|%\}|>\}\}|[\s`\"']\}\}")
_GO_CALL = re.compile(r"\{\{-?\s*(?:raw|image|code|play|video)\b")
_PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.DOTALL)
_CODE = re.compile(r"<code[^>]*>(.*?)</code>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
# What the checks below look for in the sources, independently of the code under test.
_GO_IMAGE = re.compile(r'\{\{image "([^"]+)"')
_HUGO_IMAGE = re.compile(r"\{\{<\s*(?:figure|img|imgproc|image)\b(.*?)>\}\}", re.DOTALL)
_SRC = re.compile(r'\bsrc="([^"]+)"')


def known_files(corpus: str) -> frozenset[str]:
    root = CORPORA / corpus
    return frozenset(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def parsed(corpus: str) -> Iterator[tuple[str, Post]]:
    root, known = CORPORA / corpus, known_files(corpus)
    for rel in sorted(known):
        if is_post_path(rel):
            yield rel, parse_post(rel, (root / rel).read_bytes(), known_files=known)


@cache
def parsed_without_safety_net(corpus: str) -> list[tuple[str, Post]]:
    with (
        mock.patch.object(extract, "scrub", lambda text: text),
        mock.patch.object(sections, "scrub", lambda text: text),
        mock.patch.object(tree_text, "scrub", lambda text: text),
    ):
        return list(parsed(corpus))


def _shown(fragment: str) -> str:
    return html.unescape(_TAG.sub("", fragment))


def leaks(post: Post) -> list[str]:
    """Lines of the post's plain text (sections, headings, excerpt) holding template syntax
    outside what its HTML shows as code."""
    code_lines = {
        line.strip() for block in _PRE.findall(post.html) for line in _shown(block).split("\n")
    }
    spans = {" ".join(_shown(s).split()) for s in _CODE.findall(_PRE.sub("", post.html))}
    longest_first = sorted(filter(None, spans), key=len, reverse=True)
    found = []
    texts = [post.excerpt, *(f"{s.heading}\n{s.text}" for s in post.sections)]
    for line in "\n".join(texts).split("\n"):
        if line.strip() in code_lines:
            continue
        prose = line
        for span in longest_first:
            prose = prose.replace(span, "")
        if _SYNTAX.search(prose):
            found.append(line)
    return found


@pytest.mark.parametrize("corpus", CORPUS_NAMES)
def test_no_executed_template_syntax_leaks_into_plain_text(corpus: str) -> None:
    posts = parsed_without_safety_net(corpus)
    assert len(posts) > 150
    leaked = {rel: lines for rel, post in posts if (lines := leaks(post))}
    assert leaked == {}


@pytest.mark.parametrize("corpus", CORPUS_NAMES)
def test_no_template_delimiters_in_plain_text_with_the_safety_net(corpus: str) -> None:
    for rel, post in parsed(corpus):
        texts = [post.excerpt, *(f"{s.heading}\n{s.text}" for s in post.sections)]
        assert not [t for t in texts if "{{" in t or "{%" in t], rel


def test_go_site_calls_run_everywhere_on_go_blog() -> None:
    posts = parsed_without_safety_net("go-blog")
    calls = {
        rel: _GO_CALL.findall(post.html + post.text)
        for rel, post in posts
        if _GO_CALL.search(post.html + post.text)
    }
    assert calls == {}


def expected_image_refs(corpus: str) -> set[tuple[str, str]]:
    """(post id, image file) for each image shortcode outside fenced code whose file is in the
    corpus, read from the sources: relative to the post, or for a root-relative source, the
    repository root or else the first ancestor folder of the post (or its static/, as Hugo
    serves it) holding it."""
    root, known = CORPORA / corpus, known_files(corpus)
    expected = set()
    for rel in sorted(known):
        if not is_post_path(rel):
            continue
        _, body, _ = split_front_matter((root / rel).read_text(encoding="utf-8-sig"))
        code = fenced_code(body)
        sources = [(m.start(), m.group(1)) for m in _GO_IMAGE.finditer(body)]
        for m in _HUGO_IMAGE.finditer(body):
            src = _SRC.search(m.group(1))
            if src is not None:
                sources.append((m.start(), src.group(1)))
        folder = posixpath.dirname(rel)
        for start, src in sources:
            if inside(code, start):
                continue
            if src.startswith("/"):
                parts = folder.split("/")
                candidates = [
                    f"{base}{src}".lstrip("/")
                    for depth in range(len(parts) + 1)
                    for base in ("/".join(parts[:depth]), "/".join([*parts[:depth], "static"]))
                ]
            else:
                candidates = [posixpath.normpath(posixpath.join(folder, src))]
            hit = next((c for c in candidates if c in known), None)
            if hit is not None:
                expected.add((post_id(rel), hit))
    return expected


@pytest.mark.parametrize(("corpus", "at_least"), [("go-blog", 180), ("hugo-docs", 2)])
def test_image_shortcodes_reach_the_media_index(corpus: str, at_least: int) -> None:
    expected = expected_image_refs(corpus)
    assert len(expected) >= at_least
    posts = [post for _, post in parsed(corpus)]
    refs = {(post.id, image.path) for post in posts for image in post.images}
    assert expected - refs == set()
    root = CORPORA / corpus
    files = {path for _, path in expected}
    media = {path: describe_image(path, (root / path).read_bytes()) for path in files}
    attach_references(media, posts)
    listed = {(ref.post_id, path) for path, item in media.items() for ref in item.referenced_by}
    assert expected <= listed
