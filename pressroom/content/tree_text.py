"""Plain text, sections, anchors, links and images from a markdown-it-pyrs tree: one walk
that feeds content.sections.TextCutter and content.extract.Extractor the same events, in the
same order, as content.sections.outline does from markdown-it-py's tokens.

The walk raises `Unsupported` where the tree shows a construct that markdown-it-pyrs reads
differently from markdown-it-py (each case is named where it is caught); content.render_fast
then leaves the post to markdown-it-py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it_pyrs import Node

from pressroom.content.extract import Extractor, link_text, tidy
from pressroom.content.sections import Anchors, TextCutter, slugify
from pressroom.content.template_syntax import scrub

__all__ = ["TreeWalk", "Unsupported"]

# markdown-it-py stops at this block level and cuts the rest (content.render.MAX_NESTING - 1).
_MAX_LEVEL = 99
# Inline nesting (emphasis in emphasis, image in link...) deeper than this is left to
# markdown-it-py, which stops nesting at 100 levels; it also keeps this walk's recursion short.
_MAX_INLINE_DEPTH = 90
_RAW_HEADING = re.compile(r"</?h[1-6]", re.IGNORECASE)
# A heading's kramdown id, as content.kramdown reads it (a plain id only; see render_fast).
HEADING_ID_TAIL = r"[ \t]+\{:?[ \t]*#((?:[^\W_]|[:.-])+)[ \t]*\}"
_HEADING_ID = re.compile(HEADING_ID_TAIL + r"[ \t]*$")
_INLINE = frozenset(
    "text text_special code_inline softbreak hardbreak link autolink image html_inline "
    "em strong strikethrough".split()
)
_CONTAINERS = frozenset({"bullet_list", "ordered_list", "table", "blockquote", "definition_list"})
_LIST_ITEM = re.compile(r"(?:[-*+]|\d{1,9}[.)])(?:\s|$)")
_BARE_MARKER = re.compile(r"(?:[-*+]|\d{1,9}[.)])\s*")
_DEFINITION_START = re.compile(r"[:~][ \t]")
_SILENT = frozenset({"hr", "definition"})  # a thematic break; a link reference definition


class Unsupported(Exception):
    """The tree holds something that markdown-it-pyrs does not read as markdown-it-py does."""


class TreeWalk:
    """One walk over the tree. Headings' links and images go to `head`, the rest to `body`
    (markdown-it-py reads every heading first). `explicit_ids` are the kramdown ids that the
    headings carry, in order: they take their anchors before any generated one does."""

    def __init__(self, ex: Extractor, explicit_ids: list[str]) -> None:
        self.head = ex
        self.body = Extractor(ex.md, ex.post_path, ex.known_files)
        self.cutter = TextCutter()
        self.unique = Anchors()
        self.explicit_ids = explicit_ids
        self.explicit = [self.unique.take(i) for i in explicit_ids]
        self.anchors: list[str] = []
        self.id_tails: list[str] = []  # per heading: its kramdown id as written, or ""
        self.raw_heading = False
        self.last = ""  # the last leaf block seen
        self.in_description = 0  # definitions (dd) open around the current block
        self.in_quote = 0  # block quotes open around the current block

    def blocks(self, node: Node, level: int, tight_in: str | None) -> None:
        """The block children of `node` at markdown-it-py block `level`; `tight_in` names the
        list item or definition whose inline children are a tight (hidden) paragraph."""
        run: list[Node] = []
        cutter = self.cutter
        previous = ""
        for child in node.children:
            name = child.name
            sibling, previous = previous, name
            if name in _INLINE:
                run.append(child)
                continue
            if run:
                self.paragraph(run, tight=True)
                run = []
            self.last = name
            if name == "paragraph":
                self.paragraph(child.children, tight=False)
            elif name == "heading":
                self.heading(child)
            elif name in ("fence", "code_block"):
                cutter.emit("\n\n", scrub(child.meta["content"]).strip("\n"))
            elif name == "html_block":
                content = child.meta["content"]
                self.raw_heading = self.raw_heading or _RAW_HEADING.search(content) is not None
                cutter.emit("\n\n", self.body.html_block(content))
            elif name in _CONTAINERS:
                if name == "table" and sibling == "blockquote":
                    # markdown-it-py reads the table's lines as the quote's lazy continuation
                    # when no blank line parts them; markdown-it-pyrs starts the table.
                    raise Unsupported("table after a quote")
                cutter.new_block = True
                self.container(child, level)
            elif name not in _SILENT:
                raise Unsupported(name)
        if run:
            if tight_in is None:
                raise Unsupported(f"inline content in {node.name}")
            self.paragraph(run, tight=True)

    def heading(self, node: Node) -> None:
        children = node.children
        last = children[-1] if children else None
        found = _HEADING_ID.search(_content(last)) if last and last.name == "text" else None
        if found is None:
            text = self.inline(children, self.head)
            anchor = self.unique.take(slugify(text))
            self.id_tails.append("")
        else:
            n = sum(1 for tail in self.id_tails if tail)
            if n >= len(self.explicit) or self.explicit_ids[n] != found[1]:
                raise Unsupported("a heading id that the source check did not see")
            text = self.inline(children[:-1], self.head, _content(last)[: found.start()])
            anchor = self.explicit[n]
            self.id_tails.append(found[0])
        self.anchors.append(anchor)
        self.cutter.heading(anchor, text, int(node.meta["level"]))

    def container(self, node: Node, level: int) -> None:
        name = node.name
        if name == "blockquote":
            if level >= _MAX_LEVEL:
                raise Unsupported("nesting")
            if not node.children:  # markdown-it-pyrs puts a newline inside, markdown-it-py not
                raise Unsupported("empty blockquote")
            self.in_quote += 1
            self.blocks(node, level + 1, None)
            self.in_quote -= 1
        elif name == "table":
            if len(node.meta["alignments"]) == 1:
                # markdown-it-py wants a pipe in a one-column table's header row.
                raise Unsupported("one-column table")
            for part in node.children:  # thead, tbody
                for row in part.children:
                    cells = (self.inline(cell.children, self.body) for cell in row.children)
                    line = "\t".join(text.replace("\n", " ") for text in cells).strip()
                    if _LIST_ITEM.match(line):
                        # A list item ("- ", "2) x") after a table may be a row to
                        # markdown-it-pyrs where it ends the table for markdown-it-py.
                        raise Unsupported("list item after a table")
                    self.cutter.emit("\n", line)
        else:  # a list of list_item, or a definition list of terms and descriptions
            for item in node.children:
                if item.name == "definition_term":
                    self.cutter.inline(self.inline(item.children, self.body), False, False)
                    continue
                if level + 1 >= _MAX_LEVEL:
                    raise Unsupported("nesting")
                inside = item.name == "definition_description"
                self.in_description += inside
                self.blocks(item, level + 2, item.name)
                self.in_description -= inside

    def paragraph(self, nodes: Sequence[Node], *, tight: bool) -> None:
        self.last = "paragraph"
        if (self.in_quote or self.in_description) and _lazy_line(nodes, self.in_description > 0):
            raise Unsupported("a lazy line that may start a block")
        self.cutter.inline(self.inline(nodes, self.body), tight, True)

    def inline(self, nodes: Sequence[Node], ex: Extractor, tail: str = "") -> str:
        parts: list[str] = []
        self._inline(nodes, ex, parts, [], 0)
        parts.append(tail)
        return tidy(scrub("".join(parts)))

    def _inline(
        self,
        nodes: Sequence[Node],
        ex: Extractor,
        parts: list[str],
        open_links: list[tuple[str, int, bool]],
        depth: int,
    ) -> None:
        if depth > _MAX_INLINE_DEPTH:
            raise Unsupported("inline nesting")
        # The same events, in the same order, as Extractor.inline reads from markdown-it-py's
        # flat inline tokens: a Markdown link closes only itself, raw <a> only raw </a>.
        for node in nodes:
            name = node.name
            if name in ("text", "text_special"):
                parts.append(node.meta["content"])
            elif name == "softbreak":
                parts.append(" ")
            elif name == "hardbreak":
                parts.append("\n")
            elif name in ("link", "autolink"):
                if node is not nodes[-1] and _content(nodes[-1]).rstrip() == "(":
                    if nodes[-2] is node:  # "[ref](" at the end: markdown-it-py keeps it text
                        raise Unsupported("reference link before a final parenthesis")
                open_links.append((node.meta["url"], len(parts), False))
                self._inline(node.children, ex, parts, open_links, depth + 1)
                if open_links and not open_links[-1][2]:
                    href, start, _ = open_links.pop()
                    ex.add_link(href, "".join(parts[start:]))
            elif name == "image":
                meta = node.meta
                title = meta.get("title")
                src = link_text(meta["url"])
                alt = _alt_text(node.children, depth + 1)
                ex.add_image(src, alt, str(title) if title else None)
            elif name == "html_inline":
                content = node.meta["content"]
                self.raw_heading = self.raw_heading or _RAW_HEADING.search(content) is not None
                ex.raw_inline(content, parts, open_links)
            else:  # code_inline (its text is a child), em, strong, strikethrough
                if name == "code_inline" and not "".join(map(_content, node.children)).strip():
                    # A code span of blanks across lines: markdown-it-pyrs keeps fewer.
                    raise Unsupported("blank code span")
                self._inline(node.children, ex, parts, open_links, depth + 1)


def _lazy_line(nodes: Sequence[Node], in_description: bool) -> bool:
    """A line of the paragraph (in a quote or definition) is an empty list item ("-", "1."),
    or, inside a definition, starts like one (": ", "~ "): markdown-it-py ends a lazy
    paragraph there, markdown-it-pyrs reads on."""
    after_break = False
    for node in nodes:
        if after_break and node.name == "text":
            line = _content(node)
            if _BARE_MARKER.fullmatch(line) or (in_description and _DEFINITION_START.match(line)):
                return True
        after_break = node.name == "softbreak"
    return False


def _content(node: Node) -> str:
    return str(node.meta.get("content", ""))


def _alt_text(nodes: Sequence[Node], depth: int) -> str:
    if depth > _MAX_INLINE_DEPTH:
        raise Unsupported("inline nesting")
    out: list[str] = []
    for node in nodes:
        name = node.name
        if name == "text":
            out.append(node.meta["content"])
        elif name in ("softbreak", "hardbreak"):
            out.append(" ")
        elif name in ("html_inline", "text_special"):
            # markdown-it-pyrs leaves raw HTML, entities and escapes out of the alt attribute.
            raise Unsupported(f"{name} in alt text")
        else:
            out.append(_alt_text(node.children, depth + 1))
    return "".join(out)
