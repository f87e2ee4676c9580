"""Plain text, links and images from markdown-it's token stream: inline tokens, and raw HTML
blocks read with html.parser (kramdown's `markdown="1"` elements go back through the inline
parser); image sources resolved to repo paths; words counted for reading time.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLinkText
from markdown_it.token import Token

from pressroom.content.paths import is_internal, resolve_image
from pressroom.content.template_syntax import scrub
from pressroom.models import ImageRef, Link

__all__ = ["Extractor", "count_words", "link_text", "tidy"]

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])[^\W_])+(?:['\u2019](?:(?![{_CJK}])[^\W_])+)*")
_PLAIN_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_ANY_CJK = re.compile(f"[{_CJK}]")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd details div dl dt figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tr ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "template", "textarea"})


_known_link_text = lru_cache(maxsize=4096)(normalizeLinkText)


def link_text(url: str) -> str:
    """markdown-it's display form of a URL (percent-decoding, punycode hosts), as
    MarkdownIt.normalizeLinkText gives it; remembered for the short URLs that a site links
    again and again (a long one, such as a data: image, would hold memory for nothing)."""
    return _known_link_text(url) if len(url) <= 512 else normalizeLinkText(url)


def count_words(text: str) -> int:
    """Words in plain text; each CJK ideograph or kana counts as one."""
    if _ANY_CJK.search(text) is None:
        # The same words without a lookahead per character: three times as fast.
        return len(_PLAIN_WORD.findall(text))
    return len(_WORD.findall(text))


def tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


class _TagReader(HTMLParser):
    """Reads the tags of a raw HTML fragment (one html_inline token)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("/" + tag, {}))


def _tags(fragment: str) -> list[tuple[str, dict[str, str]]]:
    reader = _TagReader()
    reader.feed(fragment)
    reader.close()
    return reader.events


class Extractor:
    """Collects plain text, links and images while walking tokens."""

    def __init__(self, md: MarkdownIt, post_path: str, known_files: frozenset[str]) -> None:
        self.md = md
        self.post_path = post_path
        self.known_files = known_files
        self.links: dict[tuple[str, str], Link] = {}
        self.images: dict[tuple[str, str | None, str, str | None], ImageRef] = {}

    def add_link(self, href: str, text: str) -> None:
        url = link_text(href).strip() if href else ""
        if url:
            text = " ".join(scrub(text).split())
            self.links.setdefault((url, text), Link(url=url, text=text, internal=is_internal(url)))

    def add_image(self, src: str, alt: str, title: str | None) -> None:
        src = src.strip()
        if src:
            path = resolve_image(src, self.post_path, self.known_files)
            alt = " ".join(scrub(alt).split())
            ref = ImageRef(src=src, path=path, alt=alt, title=title or None)
            self.images.setdefault((src, path, alt, ref.title), ref)

    def inline(self, children: Sequence[Token] | None) -> str:
        parts: list[str] = []
        open_links: list[tuple[str, int, bool]] = []  # href, start in parts, is raw HTML
        for child in children or ():
            kind = child.type
            if kind in ("text", "code_inline"):
                parts.append(child.content)
            elif kind == "softbreak":
                parts.append(" ")
            elif kind == "hardbreak":
                parts.append("\n")
            elif kind == "link_open":
                open_links.append((str(child.attrGet("href") or ""), len(parts), False))
            elif kind == "link_close" and open_links and not open_links[-1][2]:
                href, start, _ = open_links.pop()
                self.add_link(href, "".join(parts[start:]))
            elif kind == "image":
                src = link_text(str(child.attrGet("src") or ""))
                title = child.attrGet("title")
                self.add_image(src, _alt_text(child.children), str(title) if title else None)
            elif kind == "html_inline":
                self.raw_inline(child.content, parts, open_links)
        return tidy(scrub("".join(parts)))

    def raw_inline(
        self, fragment: str, parts: list[str], open_links: list[tuple[str, int, bool]]
    ) -> None:
        """One raw HTML fragment of inline text: its links (a raw <a> closes only at a raw
        </a>), images and line breaks; `parts` is the text so far."""
        for tag, attrs in _tags(fragment):
            if tag == "a" and "href" in attrs:
                open_links.append((attrs["href"], len(parts), True))
            elif tag == "/a" and open_links and open_links[-1][2]:
                href, start, _ = open_links.pop()
                self.add_link(href, "".join(parts[start:]))
            elif tag == "img":
                alt, title = attrs.get("alt", ""), attrs.get("title")
                self.add_image(attrs.get("src", ""), alt, title)
            elif tag == "br":
                parts.append("\n")

    def html_block(self, raw: str) -> str:
        reader = _HtmlText(self)
        reader.feed(raw)
        reader.close()
        reader.flush_markdown()
        return tidy(scrub("".join(reader.parts)))


def _alt_text(children: Sequence[Token] | None) -> str:
    out: list[str] = []
    for child in children or ():
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(_alt_text(child.children))
    return "".join(out)


class _HtmlText(HTMLParser):
    """Text, links and images of a raw HTML block.

    Elements with kramdown's `markdown="1"` (or "span"/"block") hold Markdown: their
    source is collected and run through the inline parser instead of being read as text.
    """

    def __init__(self, extractor: Extractor) -> None:
        super().__init__(convert_charrefs=False)
        self.ex = extractor
        self.parts: list[str] = []
        self.skip = 0
        self.links: list[tuple[str, int]] = []
        self.md_depth = 0  # >0 while inside a markdown="1" element
        self.md_source: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.md_depth:
            self.md_source.append(self.get_starttag_text() or "")
            self.md_depth += tag not in _VOID
            return
        values = {k: v or "" for k, v in attrs}
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "img":
            self.ex.add_image(values.get("src", ""), values.get("alt", ""), values.get("title"))
        elif tag == "a" and "href" in values:
            self.links.append((values["href"], len(self.parts)))
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        if values.get("markdown", "0") != "0" and tag not in _VOID:
            self.md_depth = 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.md_depth:
            self.md_source.append(self.get_starttag_text() or "")
            return
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and tag in _SKIP_TAGS:
            self.skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if self.md_depth:
            self.md_depth -= tag not in _VOID
            if self.md_depth:
                self.md_source.append(f"</{tag}>")
                return
            self.flush_markdown()
        if tag in _SKIP_TAGS and self.skip:
            self.skip -= 1
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            self.ex.add_link(href, "".join(self.parts[start:]))
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.md_depth:
            self.md_source.append(data)
        elif not self.skip:
            self.parts.append(data)

    def handle_entityref(self, name: str) -> None:
        self.handle_data(f"&{name};" if self.md_depth else html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.handle_data(f"&#{name};" if self.md_depth else html.unescape(f"&#{name};"))

    def flush_markdown(self) -> None:
        if self.md_source:
            source, self.md_source, self.md_depth = "".join(self.md_source), [], 0
            tokens = self.ex.md.parseInline(source)
            self.parts.append(self.ex.inline(tokens[0].children if tokens else None))


_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
