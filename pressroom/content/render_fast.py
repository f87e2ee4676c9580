"""The fast path of Markdown rendering: markdown-it-pyrs (the Rust port of markdown-it, same
token model) builds the tree and the HTML; one walk over the tree (content.tree_text) gives
the same plain text, sections, anchors, links and images as the markdown-it-py path
(content.render, which stays the reference and the fallback).

A regex over the source first decides whether a post may take this path (`fits`): not when
it uses what only the markdown-it-py set-up does (kramdown attribute lists, except a plain
`{#id}` closing an ATX heading, which is handled here), what markdown-it-pyrs renders
differently (footnotes, task lists), or what nests so deep that markdown-it-pyrs, which
recurses per level with no limit, could overflow its stack: a line whose container prefix
(quote marks, list markers, indentation, definition colons) is 100 characters or more, or
more than MAX_DELIMITERS inline delimiters. `render_tree`
returns None when the tree shows something read differently, nesting at markdown-it-py's
limit (which markdown-it-py then reports), or the Rust parser panics.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it.common.utils import escapeHtml
from markdown_it_pyrs import MarkdownIt

from pressroom.content.extract import Extractor
from pressroom.content.sections import Outline
from pressroom.content.tree_text import HEADING_ID_TAIL, TreeWalk, Unsupported

__all__ = ["fits", "render_tree"]

# Each pattern has a literal first character for the regex engine to scan for; one pattern of
# alternatives, or one anchored at every line start, takes ten times as long.
_TASK = re.compile(r"\[[ xX]\]")
# Characters of a container prefix; a run of 100 is looser than 100 prefix elements ("10."
# is one), so it catches every line that deep. markdown-it reads "\r" as a line end too.
_DEEP_LINE = re.compile(r"[\r\n][ \t>*+~:.)\d-]{100}")
_DEEP_START = re.compile(r"[ \t>*+~:.)\d-]{100}")
# Each inline nesting level (emphasis, strikethrough, link, image) takes a delimiter; past
# some tens of thousands of levels markdown-it-pyrs overflows its stack rendering or freeing
# the tree, so a source with more delimiters than this is left to markdown-it-py.
MAX_DELIMITERS = 10_000
_KRAMDOWN = re.compile(r"\{(?::|[ \t]*#)")  # what content.kramdown may act on
_ATX_HEADING_ID = re.compile(
    rf"^ {{0,3}}#{{1,6}}[ \t][^\n]*?{HEADING_ID_TAIL}[ \t]*$", re.MULTILINE
)
_HEADING_TAG = re.compile(r"<h([1-6])>")
_POSITIONED_HEADING = re.compile(r'<h([1-6]) data-sourcepos="[^"]*">')
_POSITION = re.compile(r' data-sourcepos="[^"]*"')
_UNTERMINATED = frozenset({"html_block", "fence"})


def fits(source: str) -> bool:
    """True when the fast path may render `source` (see the module docstring)."""
    return _heading_ids(source) is not None


def _heading_ids(source: str) -> list[str] | None:
    """The kramdown ids closing ATX headings, in order; None when `source` does not fit."""
    if (
        sum(map(source.count, "*_~[")) > MAX_DELIMITERS
        or "[^" in source
        or "^[" in source
        or _TASK.search(source) is not None
        or _DEEP_START.match(source) is not None
        or _DEEP_LINE.search(source) is not None
    ):
        return None
    if "{" not in source or _KRAMDOWN.search(source) is None:
        return []
    ids = _ATX_HEADING_ID.findall(source)
    # Every attribute list must be one of these heading ids (a line in a code block that
    # looks like one makes the counts differ too: markdown-it-py then renders the post).
    return ids if len(ids) == len(_KRAMDOWN.findall(source)) else None


def _md_rules() -> MarkdownIt:
    # The Rust plugins matching content.render's set-up; raw HTML is on in its commonmark.
    return MarkdownIt("commonmark").enable_many(["table", "strikethrough", "deflist", "tasklist"])


_md = cache(_md_rules)


@cache
def _md_positions() -> MarkdownIt:
    return _md_rules().enable("sourcepos")


def render_tree(source: str, ex: Extractor) -> tuple[str, Outline] | None:
    """(HTML with heading ids, outline) of `source`, links and images added to `ex` in the
    markdown-it-py path's order; None when the markdown-it-py path must render it."""
    ids = _heading_ids(source)
    if ids is None:
        return None
    walk = TreeWalk(ex, ids)
    try:
        walk.blocks(_md().tree(source), 0, None)
        if walk.last in _UNTERMINATED and not source.endswith("\n"):
            # A raw HTML block or code fence that runs to the end of a source without a final
            # newline: markdown-it-pyrs ends its HTML with a newline, markdown-it-py does not.
            return None
        if sum(1 for tail in walk.id_tails if tail) != len(ids):
            return None
        html = _render(source, walk)
    except Unsupported:
        return None
    except BaseException as exc:
        # A Rust panic (markdown-it 0.6 has a few on odd inline input) reaches Python as
        # pyo3's PanicException, a BaseException; markdown-it-py renders that post instead.
        if type(exc).__module__ != "pyo3_runtime":
            raise
        return None
    if html is None:
        return None
    # markdown-it-py reads every heading before the body, so their links and images come first.
    for key, link in walk.body.links.items():
        ex.links.setdefault(key, link)
    for image_key, image in walk.body.images.items():
        ex.images.setdefault(image_key, image)
    return html, walk.cutter.outline()


def _render(source: str, walk: TreeWalk) -> str | None:
    """The HTML of `source` with the anchors set as ids on its headings, in order (and their
    kramdown ids taken out of their text); None if the headings and anchors do not pair up.

    markdown-it-pyrs renders a heading as a bare `<hN>`. When the author's raw HTML holds
    headings too, the Markdown ones are told apart by the source positions that the
    sourcepos renderer adds to every element it makes (removed again here)."""
    anchors = walk.anchors
    if not anchors:
        return _md().render(source)
    ids = iter(anchors)

    def with_id(match: re.Match[str]) -> str:
        return f'<h{match[1]} id="{escapeHtml(next(ids, ""))}">'

    if walk.raw_heading:
        if any(walk.id_tails):
            return None
        html, count = _POSITIONED_HEADING.subn(with_id, _md_positions().render(source))
        html = _POSITION.sub("", html)
    else:
        html, count = _HEADING_TAG.subn(with_id, _md().render(source))
    if count != len(anchors):
        return None
    for tail in filter(None, walk.id_tails):
        # In order: the first such text before a closing tag is this heading's.
        written = tail + "</h"
        if written not in html:
            return None
        html = html.replace(written, "</h", 1)
    return html
