"""Heading sections: GitHub-style anchors for every heading (explicit ids first, then unique
slugs), and one walk over the token stream that cuts the plain text into the intro and one
section per heading, with the text of the whole post and its first paragraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it.token import Token

from pressroom.content.extract import Extractor
from pressroom.content.template_syntax import scrub

__all__ = ["Anchors", "MdSection", "Outline", "TextCutter", "outline", "slugify"]

# A heading anchor is cut to this many characters: it is part of every section id, and a
# heading of a megabyte would otherwise make an id (and URL fragment) of a megabyte.
MAX_ANCHOR_CHARS = 200
_CONTAINERS = frozenset(
    {"bullet_list_open", "ordered_list_open", "table_open", "blockquote_open", "dl_open"}
)


@dataclass(frozen=True, slots=True)
class MdSection:
    """A heading-level slice; the intro before any heading has anchor "" and level 0."""

    anchor: str
    heading: str
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Outline:
    """The post's plain text, cut into sections."""

    sections: list[MdSection]
    text: str
    first_paragraph: str  # plain text of the first non-empty paragraph, for excerpts


_SLUG_DROP = re.compile(r"[^\w\- ]")


def slugify(text: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    return _SLUG_DROP.sub("", text.strip().lower()).replace(" ", "-")


class Anchors:
    """Hands out unique heading anchors: `base` cut to MAX_ANCHOR_CHARS ("section" if empty),
    then `base-1`, `base-2`... when it is taken."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, base: str) -> str:
        base = base[:MAX_ANCHOR_CHARS] or "section"
        anchor, n = base, 0
        while anchor in self.taken:
            n += 1
            anchor = f"{base}-{n}"
        self.taken.add(anchor)
        return anchor


def _assign_anchors(tokens: list[Token], headings: dict[int, str]) -> dict[int, str]:
    """Unique ids for every heading_open (by token index), also set on the tokens."""
    explicit = {i: str(tokens[i].attrGet("id")) for i in headings if tokens[i].attrGet("id")}
    unique = Anchors()
    anchors: dict[int, str] = {}
    # Explicit ids first, so a generated slug never steals one that the site links to.
    for i in sorted(headings, key=lambda i: (i not in explicit, i)):
        anchor = unique.take(explicit.get(i) or slugify(headings[i]))
        anchors[i] = anchor
        tokens[i].attrSet("id", anchor)
    return anchors


def outline(tokens: list[Token], ex: Extractor) -> Outline:
    """Anchor every heading (the ids are set on the tokens, for the HTML) and cut the text."""
    heading_text = {
        i: ex.inline(tokens[i + 1].children)
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open" and i + 1 < len(tokens)
    }
    anchors = _assign_anchors(tokens, heading_text)
    walk = TextCutter()
    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == "heading_open":
            walk.heading(anchors[i], heading_text[i], int(tok.tag[1]))
        elif kind == "inline":
            if i - 1 not in heading_text:
                opener = tokens[i - 1]
                text = ex.inline(tok.children)
                walk.inline(text, opener.hidden, opener.type == "paragraph_open")
        elif kind in _CONTAINERS:
            walk.new_block = True
        elif kind == "tr_open":
            walk.row = []
        elif kind == "tr_close" and walk.row is not None:
            walk.emit("\n", "\t".join(walk.row).strip())
            walk.row = None
        elif kind in ("fence", "code_block"):
            walk.emit("\n\n", scrub(tok.content).strip("\n"))
        elif kind == "html_block":
            walk.emit("\n\n", ex.html_block(tok.content))
    return walk.outline()


class TextCutter:
    """The walk's state: the section being filled and the chunks of text seen so far. Fed in
    document order by `outline` (markdown-it-py tokens) or by content.render_fast (a
    markdown-it-pyrs tree)."""

    def __init__(self) -> None:
        self.sections: list[MdSection] = []
        self.all_chunks: list[tuple[str, str]] = []  # (separator before, text)
        self.current = ("", "", 0)
        self.chunks: list[tuple[str, str]] = []
        self.first_paragraph = ""
        self.row: list[str] | None = None
        # A list, table or quote starts a new block even when its items are tight.
        self.new_block = False

    def flush(self) -> None:
        text = _join(self.chunks)
        anchor, heading, level = self.current
        if level or text:
            self.sections.append(MdSection(anchor=anchor, heading=heading, level=level, text=text))

    def heading(self, anchor: str, heading: str, level: int) -> None:
        self.flush()
        self.current, self.chunks = (anchor, heading, level), []
        self.all_chunks.append(("\n\n", heading))

    def inline(self, text: str, tight: bool, paragraph: bool) -> None:
        """The text of one inline run: a paragraph (`tight`: in a tight list, so hidden),
        a table cell, a definition term."""
        if self.row is not None:
            self.row.append(text.replace("\n", " "))
            return
        self.emit("\n" if tight else "\n\n", text)
        if not self.first_paragraph and paragraph:
            self.first_paragraph = text

    def outline(self) -> Outline:
        self.flush()
        return Outline(self.sections, _join(self.all_chunks), self.first_paragraph)

    def emit(self, sep: str, text: str) -> None:
        if text:
            if self.new_block:
                sep, self.new_block = "\n\n", False
            self.chunks.append((sep, text))
            self.all_chunks.append((sep, text))


def _join(chunks: list[tuple[str, str]]) -> str:
    out: list[str] = []
    for sep, text in chunks:
        if out:
            out.append(sep)
        out.append(text)
    return "".join(out)
