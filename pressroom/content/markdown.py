"""Markdown rendering: a post body to HTML, plain text, heading sections, links and images.

Owns the markdown-it-py setup, the template pre-pass (Jekyll Liquid and Hugo shortcodes are
resolved or dropped before Markdown sees them, as the site generators do), kramdown
attribute lists, GitHub-style heading anchors, plain-text extraction from the token
stream (raw HTML through html.parser), resolving image sources to repo paths, and
sanitising the rendered HTML (`sanitize_html`, nh3/Ammonia under an allowlist for blogs).
"""

from __future__ import annotations

import bisect
import html
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.deflist import deflist_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from pressroom.config import DEFAULT_IFRAME_HOSTS
from pressroom.models import ImageRef, Link

__all__ = [
    "DEFAULT_IFRAME_HOSTS",
    "HtmlPolicy",
    "MarkdownError",
    "MdSection",
    "RenderedMarkdown",
    "count_words",
    "expand_templates",
    "render",
    "resolve_image",
    "sanitize_html",
    "slugify",
]


MAX_NESTING = 100  # block levels (a list is two: list + item); markdown-it's own default
# A heading anchor is cut to this many characters: it is part of every section id, and a
# heading of a megabyte would otherwise make an id (and URL fragment) of a megabyte.
MAX_ANCHOR_CHARS = 200


class MarkdownError(ValueError):
    """The body cannot be rendered faithfully; the message says why."""


@dataclass(frozen=True, slots=True)
class MdSection:
    """A heading-level slice; the intro before any heading has anchor "" and level 0."""

    anchor: str
    heading: str
    level: int
    text: str


@dataclass(frozen=True, slots=True)
class RenderedMarkdown:
    html: str
    text: str
    sections: list[MdSection]
    links: list[Link]
    images: list[ImageRef]
    word_count: int
    first_paragraph: str  # plain text of the first non-empty paragraph, for excerpts


# --- template pre-pass (Liquid, Hugo shortcodes) ---------------------------------------

# Bounded lazy bodies: an unterminated "{%" costs at most this much scanning, not the file.
# A body never holds "{%": an unclosed tag must not swallow the next tag's closing "%}".
_BODY = r"(?:[^{]|\{(?!%)){0,2000}?"
_TEMPLATE = re.compile(
    rf"(?P<hlit>\{{\{{[<%]/\*{_BODY}\*/[>%]\}}\}})"
    rf"|(?P<hugo>\{{\{{[<%]\s*(?P<hclose>/?)\s*(?P<hname>[\w./-]+)(?P<hargs>{_BODY})[>%]\}}\}})"
    rf"|(?P<tag>\{{%-?\s*(?P<tname>\w+)(?P<targs>{_BODY})-?%\}})"
    rf"|(?P<out>\{{\{{-?(?P<expr>{_BODY})-?\}}\}})"
)
_BLOCK_END = {
    "raw": re.compile(r"\{%-?\s*endraw\s*-?%\}"),
    "comment": re.compile(r"\{%-?\s*endcomment\s*-?%\}"),
    "capture": re.compile(r"\{%-?\s*endcapture\s*-?%\}"),
}
# Variables that hold the site's own base URL: dropping them leaves a root-relative URL.
_BASE_URL_VARS = frozenset({"site.baseurl", "site.url", "site.github.url", "base_url"})
_URL_FILTERS = frozenset({"relative_url", "absolute_url", "prepend: site.baseurl"})
_STRING_LITERAL = re.compile(r"""^(?:"([^"]*)"|'([^']*)')$""")
_SHORTCODE_ARG = re.compile(r"""(?:([\w-]+)=)?(?:"([^"]*)"|'([^']*)'|([^\s"'=]+))""")


def expand_templates(text: str) -> str:
    """Resolve or drop Liquid tags/outputs and Hugo shortcodes, as a generator would.

    `{% raw %}` bodies are kept verbatim; comments and captures vanish; `{% highlight %}`
    becomes a code fence; `{% link p %}`, `{% post_url p %}` and Hugo `ref`/`relref` become
    the path they name; site base-URL outputs become "" (so `{{ site.baseurl }}/img/a.png`
    is `/img/a.png`); Hugo `figure` becomes an `<img>`. Any other tag or output is dropped,
    except one that starts a URL (`{{ site.repository }}/issues/1`), which stays in a
    compact `{{site.repository}}` form so the link survives and reads as external.
    Inside fenced code only raw markers are removed: Jekyll would run Liquid there too,
    but other generators do not, and `style={{...}}` in a JSX sample must survive.
    """
    code = _fenced_code(text)
    out: list[str] = []
    pos = 0
    while (match := _TEMPLATE.search(text, pos)) is not None:
        out.append(text[pos : match.start()])
        pos = match.end()
        if _inside(code, match.start()):
            out.append(_in_code(match))
        elif match.group("hlit") is not None:
            # Hugo's "{{</* x */>}}" escape renders the shortcode text literally.
            out.append(match.group("hlit").replace("/*", "", 1).replace("*/", "", 1))
        elif match.group("hugo") is not None:
            out.append(_hugo(match.group("hname"), match.group("hargs"), bool(match["hclose"])))
        elif match.group("tag") is not None:
            name = match.group("tname").lower()
            end_re = _BLOCK_END.get(name)
            if end_re is not None:
                end = end_re.search(text, pos)
                stop, resume = (end.start(), end.end()) if end else (len(text), len(text))
                if name == "raw":
                    out.append(text[pos:stop])
                pos = resume
            else:
                out.append(_liquid_tag(name, match.group("targs")))
        else:
            out.append(_liquid_output(match.group("expr"), text[pos : pos + 1]))
    out.append(text[pos:])
    return "".join(out)


_FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})(.*)$")


def _fenced_code(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of fenced code block contents, found line by line."""
    ranges: list[tuple[int, int]] = []
    fence = ""
    start = pos = 0
    for line in text.splitlines(keepends=True):
        found = _FENCE.match(line.rstrip("\n"))
        if not fence:
            # An info string with a backtick cannot open a ``` fence (CommonMark).
            if found and not (found.group(1)[0] == "`" and "`" in found.group(2)):
                fence, start = found.group(1), pos + len(line)
        elif found and found.group(1).startswith(fence) and not found.group(2).strip():
            ranges.append((start, pos))
            fence = ""
        pos += len(line)
    if fence:
        ranges.append((start, pos))
    return ranges


def _inside(ranges: list[tuple[int, int]], offset: int) -> bool:
    index = bisect.bisect_right(ranges, offset, key=lambda r: r[0]) - 1
    return index >= 0 and ranges[index][0] <= offset < ranges[index][1]


def _in_code(match: re.Match[str]) -> str:
    """Inside a code fence only the raw markers go; the rest is code (JSX, Go templates...)."""
    if match.group("hlit") is not None:
        return match.group("hlit").replace("/*", "", 1).replace("*/", "", 1)
    if match.group("tag") is not None and match.group("tname").lower() in ("raw", "endraw"):
        return ""
    return match.group(0)


def _liquid_tag(name: str, args: str) -> str:
    args = args.strip()
    if name == "highlight":
        return "```" + (args.split()[0] if args else "")
    if name == "endhighlight":
        return "```"
    if name in ("link", "post_url"):
        return args
    return ""


def _liquid_output(expr: str, next_char: str) -> str:
    base, *filters = (part.strip() for part in expr.split("|"))
    if base in _BASE_URL_VARS:
        return ""
    literal = _STRING_LITERAL.match(base)
    if literal is not None and all(f in _URL_FILTERS for f in filters):
        return literal.group(1) if literal.group(1) is not None else literal.group(2)
    if next_char in ("/", "#", "?") and base:
        return "{{" + re.sub(r"\s+", "", expr.strip(" -")) + "}}"
    return ""


def _hugo(name: str, args: str, closing: bool) -> str:
    name = name.lower()
    if closing:
        return "```" if name == "highlight" else ""
    named: dict[str, str] = {}
    positional: list[str] = []
    for key, dq, sq, bare in _SHORTCODE_ARG.findall(args.rstrip("/ ")):
        value = dq or sq or bare
        if key:
            named[key.lower()] = value
        else:
            positional.append(value)
    if name in ("ref", "relref"):
        return named.get("path") or (positional[0] if positional else "")
    if name == "highlight":
        return "```" + (positional[0] if positional else "")
    if name == "figure" and named.get("src"):
        attrs = "".join(
            f' {key}="{html.escape(named[key])}"' for key in ("src", "alt", "title") if key in named
        )
        caption = named.get("caption", "")
        return f"<img{attrs}>" + (f" {html.escape(caption)}" if caption else "")
    return ""


# --- kramdown attribute lists and heading ids -------------------------------------------

_IAL_LINE = re.compile(r"^\{:([^}]*)\}[ \t]*$")
_HEADING_ATTRS = re.compile(r"[ \t]+\{:?[ \t]*(#[^}]*)\}[ \t]*$")
_SPAN_IAL = re.compile(r"(?<=[)\]*_`])\{:[^}\n]*\}")
_ALD = re.compile(r"^\s*[\w-]+:")  # "{:name: ...}" defines an attribute list, applies nowhere
_IAL_PART = re.compile(r"#([\w:.-]+)|\.([\w-]+)")


def _apply_ial(token: Token, body: str) -> None:
    """Set id and classes from an attribute list; other attributes are not trusted."""
    if _ALD.match(body):
        return
    classes: list[str] = []
    for ident, cls in _IAL_PART.findall(body):
        if ident:
            token.attrSet("id", ident)
        elif cls:
            classes.append(cls)
    if classes:
        existing = str(token.attrGet("class") or "")
        token.attrSet("class", " ".join([existing, *classes]).strip())


def _kramdown_attributes(state: StateCore) -> None:
    """Core rule (after block parsing): apply and remove kramdown `{: ...}` lists.

    Jekyll's kramdown reads `{: #id .class}` on the line after a block (or before it) and
    `## Title {#id}`; left alone they would show up as text and the ids would be lost.
    """
    tokens = state.tokens
    kept: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open" and tokens[i + 1].type == "inline":
            inline = tokens[i + 1]
            found = _HEADING_ATTRS.search(inline.content)
            if found is not None:
                _apply_ial(token, found.group(1))
                inline.content = inline.content[: found.start()]
        elif token.type == "inline":
            token.content = _SPAN_IAL.sub("", token.content)
        elif token.type == "paragraph_open" and tokens[i + 1].type == "inline":
            inline = tokens[i + 1]
            lines = inline.content.split("\n")
            lead: list[str] = []
            while lines and (ial := _IAL_LINE.match(lines[0])):
                lead.append(ial.group(1))
                lines.pop(0)
            trail: list[str] = []
            while lines and (ial := _IAL_LINE.match(lines[-1])):
                trail.append(ial.group(1))
                lines.pop()
            if not lines:  # a paragraph of attribute lists only: applies to a neighbour
                target = _adjacent_block(kept, tokens, i)
                for body in lead:
                    if target is not None:
                        _apply_ial(target, body)
                i += 3  # drop paragraph_open, inline, paragraph_close
                continue
            for body in lead + trail:
                _apply_ial(token, body)
            inline.content = _SPAN_IAL.sub("", "\n".join(lines))
        kept.append(token)
        i += 1
    state.tokens = kept


def _adjacent_block(kept: list[Token], tokens: list[Token], i: int) -> Token | None:
    """The block directly before (preferred) or after the IAL paragraph at tokens[i]."""
    here = tokens[i].map
    if here is None:
        return None
    if kept:
        previous = kept[-1]
        if previous.nesting == -1:
            depth = 0
            for candidate in reversed(kept):
                depth += candidate.nesting
                if depth == 0:
                    previous = candidate
                    break
        if previous.map is not None and previous.map[1] == here[0]:
            return previous
    if i + 3 < len(tokens):
        following = tokens[i + 3]
        if following.map is not None and following.map[0] == here[1]:
            return following
    return None


_SLUG_DROP = re.compile(r"[^\w\- ]")


def slugify(text: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    return _SLUG_DROP.sub("", text.strip().lower()).replace(" ", "-")


def _assign_anchors(tokens: list[Token], headings: dict[int, str]) -> dict[int, str]:
    """Unique ids for every heading_open (by token index), also set on the tokens."""
    explicit = {i: str(tokens[i].attrGet("id")) for i in headings if tokens[i].attrGet("id")}
    taken: set[str] = set()
    anchors: dict[int, str] = {}
    # Explicit ids first, so a generated slug never steals one that the site links to.
    for i in sorted(headings, key=lambda i: (i not in explicit, i)):
        base = (explicit.get(i) or slugify(headings[i]))[:MAX_ANCHOR_CHARS] or "section"
        anchor, n = base, 0
        while anchor in taken:
            n += 1
            anchor = f"{base}-{n}"
        taken.add(anchor)
        anchors[i] = anchor
        tokens[i].attrSet("id", anchor)
    return anchors


# --- markdown-it setup ------------------------------------------------------------------


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
    md.core.ruler.after("block", "kramdown_attributes", _kramdown_attributes)
    return md


# --- text, links and images from the token stream ---------------------------------------

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])[^\W_])+(?:['\u2019](?:(?![{_CJK}])[^\W_])+)*")
# Innermost constructs only (no "{" inside), so nesting unwraps from the inside out.
_RESIDUAL_TEMPLATE = re.compile(
    r"\{\{[<%]\s*([^{]*?)\s*[>%]\}\}|\{%-?\s*([^{]*?)\s*-?%\}|\{\{-?\s*([^{]*?)\s*-?\}\}"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd details div dl dt figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tr ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "template", "textarea"})


def count_words(text: str) -> int:
    """Words in plain text; each CJK ideograph or kana counts as one."""
    return sum(1 for _ in _WORD.finditer(text))


def _scrub(text: str) -> str:
    """Template syntax left after the pre-pass (inside `{% raw %}`) loses its delimiters."""
    if "{" not in text:
        return text
    for _ in range(4):  # inner first: "{% include {{ page.x }} %}" needs two rounds
        text, changed = _RESIDUAL_TEMPLATE.subn(_inner, text)
        if not changed:
            break
    while "{{" in text or "{%" in text:  # strays: "{%{%" would turn into "{{" in one pass
        text = text.replace("{{", "{").replace("{%", "{")
    return text


def _inner(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None)


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _is_internal(url: str) -> bool:
    return not (_SCHEME.match(url) or url.startswith(("//", "{{")))


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


class _Extractor:
    """Collects plain text, links and images while walking tokens."""

    def __init__(self, md: MarkdownIt, post_path: str, known_files: frozenset[str]) -> None:
        self.md = md
        self.post_path = post_path
        self.known_files = known_files
        self.links: dict[tuple[str, str], Link] = {}
        self.images: dict[tuple[str, str | None, str, str | None], ImageRef] = {}

    def add_link(self, href: str, text: str) -> None:
        url = self.md.normalizeLinkText(href).strip() if href else ""
        if url:
            text = " ".join(_scrub(text).split())
            self.links.setdefault((url, text), Link(url=url, text=text, internal=_is_internal(url)))

    def add_image(self, src: str, alt: str, title: str | None) -> None:
        src = src.strip()
        if src:
            path = resolve_image(src, self.post_path, self.known_files)
            alt = " ".join(_scrub(alt).split())
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
                src = self.md.normalizeLinkText(str(child.attrGet("src") or ""))
                title = child.attrGet("title")
                self.add_image(src, _alt_text(child.children), str(title) if title else None)
            elif kind == "html_inline":
                for tag, attrs in _tags(child.content):
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
        return _tidy(_scrub("".join(parts)))

    def html_block(self, raw: str) -> str:
        reader = _HtmlText(self)
        reader.feed(raw)
        reader.close()
        reader.flush_markdown()
        return _tidy(_scrub("".join(reader.parts)))


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

    def __init__(self, extractor: _Extractor) -> None:
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


# --- HTML sanitising --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HtmlPolicy:
    """How a post's HTML is cleaned: `sanitize` off keeps it verbatim (SANITIZE_HTML=false,
    for trusted single-owner sites); `iframe_hosts` are the hosts an iframe may load."""

    sanitize: bool = True
    iframe_hosts: tuple[str, ...] = DEFAULT_IFRAME_HOSTS


# Ammonia's defaults (formatting, lists, tables, figures, details, code...) plus what the
# renderer and blogs add: footnote sections, task-list checkboxes, video iframes.
_SAFE_TAGS = frozenset(nh3.ALLOWED_TAGS | {"section", "iframe", "input"})
_SAFE_ATTRIBUTES: dict[str, set[str]] = {
    # id: heading anchors and footnotes; class: code highlighting, kramdown's `{: .note}`.
    "*": {"id", "class", "title", "lang", "dir"},
    "a": {"href", "hreflang", "rel", "title"},
    "img": {"src", "alt", "title", "width", "height", "loading", "align"},
    "iframe": {
        "src", "width", "height", "title", "allow", "allowfullscreen", "frameborder",
        "loading", "referrerpolicy",
    },
    "input": {"checked"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "th": {"style", "colspan", "rowspan", "align", "scope", "headers"},
    "td": {"style", "colspan", "rowspan", "align", "headers"},
    "col": {"span", "align"},
    "colgroup": {"span", "align"},
    "time": {"datetime"},
    "details": {"open"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "abbr": {"title"},
    "bdo": {"dir"},
}  # fmt: skip


def sanitize_html(fragment: str, policy: HtmlPolicy) -> str:
    """`fragment` cleaned under the blog allowlist (nh3, the Ammonia binding).

    Scripts, styles, event handlers, `javascript:` URLs, forms and unknown tags go; what
    blogs use stays (tables with cell alignment, code with its language class, figures,
    images, links with their rel, heading ids, details/summary, footnotes, task lists).
    An iframe keeps its `src` only for an https URL on one of `policy.iframe_hosts`.
    """
    if not policy.sanitize:
        return fragment
    hosts = frozenset(h.lower() for h in policy.iframe_hosts)

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "iframe" and attribute == "src":
            try:
                url = urlsplit(value.strip())
            except ValueError:
                return None
            return value if url.scheme == "https" and (url.hostname or "") in hosts else None
        return value

    return nh3.clean(
        fragment,
        tags=set(_SAFE_TAGS),
        attributes=_SAFE_ATTRIBUTES,
        attribute_filter=keep,
        # An author's rel (nofollow, me) is kept; nothing here opens a new window.
        link_rel=None,
        # Task-list checkboxes only, never a form field.
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"disabled": "disabled"}},
        filter_style_properties={"text-align"},
    )


# --- image paths ------------------------------------------------------------------------


def resolve_image(
    src: str, post_path: str, known_files: frozenset[str] = frozenset()
) -> str | None:
    """The repo-relative path an image source points at, or None if it is not local.

    Relative sources resolve against the post's directory. Root-relative ones (`/img/a.png`)
    resolve against the repo root or, when the file is not there, the first ancestor
    directory of the post (or its `static/`, as Hugo serves it) holding the file; when
    none does, the repo-root reading is returned. Query, fragment and %-escapes are
    removed; Liquid base-URL prefixes are resolved first.
    """
    src = src.strip()
    if "{" in src:
        src = expand_templates(src).strip()
    if not src or src.startswith("//") or _SCHEME.match(src) or "{{" in src or "{%" in src:
        return None
    src = unquote(src.split("#", 1)[0].split("?", 1)[0])
    if not src.strip("/"):
        return None
    post_dir = posixpath.dirname(post_path.replace("\\", "/").strip("/"))
    if not src.startswith("/"):
        return _inside_repo(posixpath.join(post_dir, src))
    rel = _inside_repo(src.lstrip("/"))
    if rel is None:
        return None
    parts = post_dir.split("/") if post_dir else []
    for depth in range(len(parts) + 1):
        base = "/".join(parts[:depth])
        for candidate in (f"{base}/{rel}", f"{base}/static/{rel}"):
            candidate = candidate.lstrip("/")
            if candidate in known_files:
                return candidate
    return rel


def _inside_repo(path: str) -> str | None:
    normal = posixpath.normpath(path)
    if normal in (".", "..") or normal.startswith(("../", "/")):
        return None
    return normal


# --- render -----------------------------------------------------------------------------


def render(
    body: str, *, post_path: str, known_files: frozenset[str] = frozenset()
) -> RenderedMarkdown:
    """Render a Markdown body (front matter already split off) and extract what search needs."""
    md = _md()
    env: dict[str, Any] = {}
    tokens = md.parse(expand_templates(body), env)
    if any(tok.level >= MAX_NESTING - 1 and tok.type in _CONTAINER_ITEMS for tok in tokens):
        # A container this deep had its content cut: markdown-it stops at its nesting limit
        # and drops the rest without a word.
        raise MarkdownError(f"nested too deeply: more than {MAX_NESTING} levels of lists/quotes")
    ex = _Extractor(md, post_path, known_files)

    heading_text = {
        i: ex.inline(tokens[i + 1].children)
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open" and i + 1 < len(tokens)
    }
    anchors = _assign_anchors(tokens, heading_text)

    sections: list[MdSection] = []
    all_chunks: list[tuple[str, str]] = []  # (separator before, text)
    current = ("", "", 0)
    chunks: list[tuple[str, str]] = []
    first_paragraph = ""
    row: list[str] | None = None
    # A list, table or quote starts a new block even when its items are tight.
    new_block = False

    def flush() -> None:
        text = _join(chunks)
        anchor, heading, level = current
        if level or text:
            sections.append(MdSection(anchor=anchor, heading=heading, level=level, text=text))

    def emit(sep: str, text: str) -> None:
        nonlocal new_block
        if text:
            if new_block:
                sep, new_block = "\n\n", False
            chunks.append((sep, text))
            all_chunks.append((sep, text))

    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind == "heading_open":
            flush()
            current, chunks = (anchors[i], heading_text[i], int(tok.tag[1])), []
            all_chunks.append(("\n\n", heading_text[i]))
        elif kind == "inline":
            if i - 1 in heading_text:
                continue
            text = ex.inline(tok.children)
            opener = tokens[i - 1]
            if row is not None:
                row.append(text.replace("\n", " "))
            else:
                emit("\n" if opener.hidden else "\n\n", text)
                if not first_paragraph and opener.type == "paragraph_open":
                    first_paragraph = text
        elif kind in _CONTAINERS:
            new_block = True
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            emit("\n", "\t".join(row).strip())
            row = None
        elif kind in ("fence", "code_block"):
            emit("\n\n", _scrub(tok.content).strip("\n"))
        elif kind == "html_block":
            emit("\n\n", ex.html_block(tok.content))
    flush()

    text = _join(all_chunks)
    return RenderedMarkdown(
        html=md.renderer.render(tokens, md.options, env),
        text=text,
        sections=sections,
        links=list(ex.links.values()),
        images=list(ex.images.values()),
        word_count=count_words(text),
        first_paragraph=first_paragraph,
    )


# Openers whose content the block parser reads one nesting level further down.
_CONTAINER_ITEMS = frozenset({"blockquote_open", "list_item_open", "footnote_open", "dd_open"})
_CONTAINERS = frozenset(
    {"bullet_list_open", "ordered_list_open", "table_open", "blockquote_open", "dl_open"}
)


def _join(chunks: list[tuple[str, str]]) -> str:
    out: list[str] = []
    for sep, text in chunks:
        if out:
            out.append(sep)
        out.append(text)
    return "".join(out)
