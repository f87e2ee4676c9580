"""Rendering a post's Markdown body: markdown-it-py set up as blogs need it (CommonMark plus
tables, strikethrough, footnotes, definition lists, task lists, kramdown attribute lists,
raw HTML), after the MDX pass of `.mdx` posts (content.mdx) and the template pre-pass
(content.template_syntax); returns the HTML with heading anchors and what search needs
(plain text, sections, links, images, word count, first paragraph).

Most posts take the fast path (content.render_fast: markdown-it-pyrs, the same result about
ten times faster); what it leaves (see render_fast.fits) is rendered here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from pressroom.content import render_fast
from pressroom.content.extract import Extractor, count_words
from pressroom.content.kramdown import kramdown_attributes
from pressroom.content.mdx import is_mdx_path, strip_mdx
from pressroom.content.sections import MdSection, Outline, outline
from pressroom.content.template_syntax import expand_templates
from pressroom.models import ImageRef, Link

__all__ = ["MAX_NESTING", "MarkdownError", "RenderedMarkdown", "render"]

MAX_NESTING = 100  # block levels (a list is two: list + item); markdown-it's own default
# Openers whose content the block parser reads one nesting level further down.
_CONTAINER_ITEMS = frozenset({"blockquote_open", "list_item_open", "footnote_open", "dd_open"})


class MarkdownError(ValueError):
    """The body cannot be rendered faithfully; the message says why."""


@dataclass(frozen=True, slots=True)
class RenderedMarkdown:
    html: str
    text: str
    sections: list[MdSection]
    links: list[Link]
    images: list[ImageRef]
    word_count: int
    first_paragraph: str  # plain text of the first non-empty paragraph, for excerpts


@cache
def _md() -> MarkdownIt:
    md = (
        MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
        .enable(["table", "strikethrough"])
        .use(footnote_plugin)
        .use(deflist_plugin)
        .use(tasklists_plugin)
    )
    # The preset's 20 would cut content after ~10 list levels; 100 is markdown-it's default
    # and keeps the block parser's recursion far from Python's limit.
    md.options["maxNesting"] = MAX_NESTING
    md.core.ruler.after("block", "kramdown_attributes", kramdown_attributes)
    return md


def render(
    body: str, *, post_path: str, known_files: frozenset[str] = frozenset()
) -> RenderedMarkdown:
    """Render a Markdown body (front matter already split off) and extract what search needs."""
    md = _md()
    source = expand_templates(strip_mdx(body) if is_mdx_path(post_path) else body)
    if render_fast.fits(source):
        ex = Extractor(md, post_path, known_files)
        fast = render_fast.render_tree(source, ex)
        if fast is not None:
            html, cut = fast
            return _rendered(html, cut, ex)
    env: dict[str, Any] = {}
    tokens = md.parse(source, env)
    if any(tok.level >= MAX_NESTING - 1 and tok.type in _CONTAINER_ITEMS for tok in tokens):
        # A container this deep had its content cut: markdown-it stops at its nesting limit
        # and drops the rest without a word.
        raise MarkdownError(f"nested too deeply: more than {MAX_NESTING} levels of lists/quotes")
    ex = Extractor(md, post_path, known_files)
    cut = outline(tokens, ex)  # sets the heading ids the HTML carries
    return _rendered(md.renderer.render(tokens, md.options, env), cut, ex)


def _rendered(html: str, cut: Outline, ex: Extractor) -> RenderedMarkdown:
    return RenderedMarkdown(
        html=html,
        text=cut.text,
        sections=cut.sections,
        links=list(ex.links.values()),
        images=list(ex.images.values()),
        word_count=count_words(cut.text),
        first_paragraph=cut.first_paragraph,
    )
