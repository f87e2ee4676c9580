"""Template syntax in post bodies: Jekyll Liquid, Hugo shortcodes, Zola shortcodes and the Go
website's template calls, resolved or dropped before Markdown sees them, as the site
generators do (`expand_templates`), and the delimiters of what is left over (inside
`{% raw %}`, or in code) stripped from plain text (`scrub`).

This module finds the constructs and handles Liquid itself; what each generator's shortcodes
and calls expand to (images among them) is content.shortcodes.
"""

from __future__ import annotations

import re

from pressroom.content.fences import fenced_code, inside
from pressroom.content.shortcodes import (
    GO_FUNCTIONS,
    go_call,
    hugo_shortcode,
    jekyll_include,
    zola_shortcode,
)

__all__ = ["expand_templates", "scrub"]


# Bounded lazy bodies: an unterminated "{%" costs at most this much scanning, not the file.
# A body never holds "{%": an unclosed tag must not swallow the next tag's closing "%}".
_BODY = r"(?:[^{]|\{(?!%)){0,2000}?"
# A go.dev call's arguments: Go strings (a raw `...` one may hold "}}" and run for lines),
# parenthesised pipelines and bare words; the first is a string or a pipeline.
_GO_STRING = r'"(?:[^"\\\n]|\\.){0,20000}"|`[^`]{0,200000}`'
_GO_PIPELINE = rf"\((?:[^()\"`]|{_GO_STRING}){{0,2000}}\)"
_GO_ARG = rf"(?:{_GO_STRING}|{_GO_PIPELINE}|[^\s{{}}()\"`]+)"
_TEMPLATE = re.compile(
    rf"(?P<hlit>\{{\{{[<%]/\*{_BODY}\*/[>%]\}}\}})"
    rf"|(?P<hugo>\{{\{{[<%]\s*(?P<hclose>/?)\s*(?P<hname>[\w./-]+)(?P<hargs>{_BODY})[>%]\}}\}})"
    rf"|(?P<tag>\{{%-?\s*(?P<tname>\w+)(?P<targs>{_BODY})-?%\}})"
    rf"|(?P<go>\{{\{{-?[ \t]*(?P<gname>{'|'.join(GO_FUNCTIONS)})"
    rf"(?P<gargs>[ \t]+(?:{_GO_STRING}|{_GO_PIPELINE})(?:\s+{_GO_ARG}){{0,20}})\s*-?\}}\}})"
    rf"|(?P<out>\{{\{{-?(?P<expr>{_BODY})-?\}}\}})"
)
# Zola's inline shortcode, `{{ name(key=value, ...) }}`: a call where Liquid has a variable.
_ZOLA_CALL = re.compile(r"\s*([A-Za-z_]\w*)\s*\((.*)\)\s*", re.DOTALL)
_BLOCK_END = {
    "raw": re.compile(r"\{%-?\s*endraw\s*-?%\}"),
    "comment": re.compile(r"\{%-?\s*endcomment\s*-?%\}"),
    "capture": re.compile(r"\{%-?\s*endcapture\s*-?%\}"),
}
# Variables that hold the site's own base URL: dropping them leaves a root-relative URL.
_BASE_URL_VARS = frozenset({"site.baseurl", "site.url", "site.github.url", "base_url"})
_URL_FILTERS = frozenset({"relative_url", "absolute_url", "prepend: site.baseurl"})
_STRING_LITERAL = re.compile(r"""^(?:"([^"]*)"|'([^']*)')$""")


def expand_templates(text: str) -> str:
    """Resolve or drop template syntax in a post body, as its generator would.

    Liquid: `{% raw %}` bodies are kept verbatim; comments and captures vanish;
    `{% highlight %}` becomes a code fence; `{% link p %}` and `{% post_url p %}` become the
    path they name; site base-URL outputs become "" (so `{{ site.baseurl }}/img/a.png` is
    `/img/a.png`); an image include becomes an `<img>`. Any other tag or output is dropped,
    except one that starts a URL (`{{ site.repository }}/issues/1`), which stays in a
    compact `{{site.repository}}` form so the link survives and reads as external.
    Hugo and Zola shortcodes and go.dev calls: see content.shortcodes (image shortcodes
    become an `<img>`, other shortcodes vanish and keep their inner text).
    Inside fenced code only raw markers (and go.dev `raw` calls) are acted on: Jekyll would
    run Liquid there too, but other generators do not, and `style={{...}}` in a JSX sample
    must survive.
    """
    code: list[tuple[int, int]] | None = None  # found when the first construct is
    out: list[str] = []
    pos = 0
    while (match := _next_template(text, pos)) is not None:
        out.append(text[pos : match.start()])
        pos = match.end()
        if code is None:
            code = fenced_code(text)
        if inside(code, match.start()):
            out.append(_in_code(match))
        elif match.group("hlit") is not None:
            # Hugo's "{{</* x */>}}" escape renders the shortcode text literally.
            out.append(match.group("hlit").replace("/*", "", 1).replace("*/", "", 1))
        elif match.group("hugo") is not None:
            hugo = hugo_shortcode(match["hname"], match["hargs"], bool(match["hclose"]))
            out.append(hugo)
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
                out.append(_tag(name, match.group("targs")))
        elif match.group("go") is not None:
            out.append(go_call(match["gname"], match["gargs"]) or "")
        else:
            out.append(_output(match.group("expr"), text[pos : pos + 1]))
    out.append(text[pos:])
    return "".join(out)


# Where a construct may start. Every alternative of _TEMPLATE starts so, and this pattern has a
# literal prefix that the regex engine scans for quickly; _TEMPLATE.search has none and costs
# a tenth of a second per 2 MB of text with no template syntax at all.
_OPENER = re.compile(r"\{[{%]")


def _next_template(text: str, pos: int) -> re.Match[str] | None:
    """`_TEMPLATE.search(text, pos)`, tried only where a construct may start."""
    while (opener := _OPENER.search(text, pos)) is not None:
        match = _TEMPLATE.match(text, opener.start())
        if match is not None:
            return match
        pos = opener.start() + 1
    return None


def _in_code(match: re.Match[str]) -> str:
    """Inside a code fence only the raw markers go, and go.dev's `raw` calls run (its site
    runs templates over the whole page); the rest is code (JSX, Go templates...)."""
    if match.group("hlit") is not None:
        return match.group("hlit").replace("/*", "", 1).replace("*/", "", 1)
    if match.group("tag") is not None and match.group("tname").lower() in ("raw", "endraw"):
        return ""
    if match.group("go") is not None:
        ran = go_call(match["gname"], match["gargs"], in_code=True)
        if ran is not None:
            return ran
    return match.group(0)


def _tag(name: str, args: str) -> str:
    """A Liquid tag, or the opening of a Zola body shortcode (`{% name(args) %}`)."""
    args = args.strip()
    if args.startswith("(") and args.endswith(")"):
        return zola_shortcode(name, args[1:-1])
    if name == "highlight":
        return "```" + (args.split()[0] if args else "")
    if name == "endhighlight":
        return "```"
    if name in ("link", "post_url"):
        return args
    if name == "include":
        return jekyll_include(args)
    return ""


def _output(expr: str, next_char: str) -> str:
    """A Liquid output (`{{ page.x | f }}`) or a Zola inline shortcode (`{{ name(args) }}`)."""
    zola = _ZOLA_CALL.fullmatch(expr) if "(" in expr else None
    if zola is not None:
        return zola_shortcode(zola.group(1), zola.group(2))
    base, *filters = (part.strip() for part in expr.split("|"))
    if base in _BASE_URL_VARS:
        return ""
    literal = _STRING_LITERAL.match(base)
    if literal is not None and all(f in _URL_FILTERS for f in filters):
        return literal.group(1) if literal.group(1) is not None else literal.group(2)
    if next_char in ("/", "#", "?") and base:
        return "{{" + re.sub(r"\s+", "", expr.strip(" -")) + "}}"
    return ""


# Innermost constructs only (no "{" inside), so nesting unwraps from the inside out.
_RESIDUAL_TEMPLATE = re.compile(
    r"\{\{[<%]\s*([^{]*?)\s*[>%]\}\}|\{%-?\s*([^{]*?)\s*-?%\}|\{\{-?\s*([^{]*?)\s*-?\}\}"
)


def scrub(text: str) -> str:
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
