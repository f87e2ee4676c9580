"""Template syntax in post bodies: Jekyll Liquid and Hugo shortcodes, resolved or dropped
before Markdown sees them, as the site generators do (`expand_templates`), and the delimiters
of what is left over (inside `{% raw %}`) stripped from plain text (`scrub`).
"""

from __future__ import annotations

import bisect
import html
import re

__all__ = ["expand_templates", "scrub"]


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
    code: list[tuple[int, int]] | None = None  # found when the first construct is
    out: list[str] = []
    pos = 0
    while (match := _next_template(text, pos)) is not None:
        out.append(text[pos : match.start()])
        pos = match.end()
        if code is None:
            code = _fenced_code(text)
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


_FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})(.*)$")


def _fenced_code(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of fenced code block contents, found line by line."""
    ranges: list[tuple[int, int]] = []
    fence = ""
    start = pos = 0
    for line in text.splitlines(keepends=True):
        if "``" not in line and "~~" not in line:  # cannot be a fence line: skip the regex
            pos += len(line)
            continue
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
