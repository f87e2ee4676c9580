"""MDX posts (`.mdx`, as Astro and Docusaurus sites write them) read as the Markdown they
hold (`strip_mdx`): top-level `import`/`export` statements go; JSX component tags (a
capitalised or dotted name: `<Tabs>`, `<TabItem value="x">`, a self-closing
`<Admonition ... />`, fragments `<>`) go while their children stay; `{/* comments */}` and
`{expressions}` go (a `{#id}` heading id stays). Fenced code and inline code spans are left
alone; lowercase tags are HTML and stay for the renderer.

MDX has no indented code blocks: the children of a component written indented under it are
dedented by their common indentation, so that they read as the paragraphs and lists they are.
Runs before the template pre-pass (content.template_syntax).
"""

from __future__ import annotations

import re

from pressroom.content.fences import fenced_code, inside

__all__ = ["is_mdx_path", "strip_mdx"]

_ESM = re.compile(r"(?:import|export)(?:[ \t]|[{*]|$)")
# A construct that does not close within this many lines is left as text.
_MAX_LINES = 60
_OPEN, _CLOSE, _SELF = 1, -1, 0


def is_mdx_path(path: str) -> bool:
    return path.lower().endswith(".mdx")


def strip_mdx(text: str) -> str:
    """The Markdown of an MDX body (see the module docstring)."""
    code = fenced_code(text)
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    kept: list[tuple[str, int]] = []  # (line, JSX depth it sits at)
    depth = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if inside(code, starts[i]) or line.lstrip(" \t>").startswith(("```", "~~~")):
            kept.append((line, depth))
            i += 1
            continue
        if depth == 0 and _ESM.match(line):
            while i < len(lines) and lines[i].strip():  # the statement runs to a blank line
                i += 1
            continue
        j = i + 1
        scanned = _scan(line)
        while scanned is None and j < len(lines) and j - i < _MAX_LINES:
            if inside(code, starts[j]):
                break
            j += 1
            scanned = _scan("".join(lines[i:j]))
        if scanned is None:  # unterminated: keep the line as it is
            kept.append((line, depth))
            i += 1
            continue
        result, events = scanned
        if events and not result.strip():
            # The lines held only JSX: a block element opens or closes here.
            depth = max(0, depth + sum(events))
            kept.append(("\n", depth))
        else:
            kept.append((result, depth))
        i = j
    return "".join(_dedented(kept))


def _dedented(kept: list[tuple[str, int]]) -> list[str]:
    """Each run of lines inside a component, dedented by the run's common indentation."""
    out: list[str] = []
    run: list[str] = []
    run_depth = 0
    for line, depth in [*kept, ("", -1)]:
        if depth != run_depth:
            out.extend(_dedent(run) if run_depth > 0 else run)
            run, run_depth = [], depth
        run.append(line)
    return out


def _dedent(run: list[str]) -> list[str]:
    indents = [len(line) - len(line.lstrip(" \t")) for line in run if line.strip()]
    cut = min(indents, default=0)
    return [line[cut:] if line.strip() else line for line in run]


def _scan(text: str) -> tuple[str, list[int]] | None:
    """`text` without its JSX tags, comments and expressions, and the tags' kinds in order;
    None when one of them does not close in `text`."""
    out: list[str] = []
    events: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            out.append(text[i : i + 2])
            i += 2
        elif c == "`":
            run = len(text) - len(text[i:].lstrip("`"))
            ticks = text[i : i + run]
            end = text.find(ticks, i + run)
            stop = end + run if end >= 0 else i + run
            out.append(text[i:stop])
            i = stop
        elif c == "<" and _is_component(text, i + 1):
            end = _balanced(text, i + 1, ">")
            if end is None:
                return None
            tag = text[i:end]
            kind = _CLOSE if tag.startswith("</") else _SELF if tag.endswith("/>") else _OPEN
            events.append(kind)
            i = end
        elif c == "{" and not text.startswith(("{#", "{:"), i):
            end = _balanced(text, i + 1, "}")
            if end is None:
                return None
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out), events


def _is_component(text: str, i: int) -> bool:
    """A JSX tag starts at `text[i]` (just after "<"): a component, or a fragment."""
    if text.startswith("/", i):
        i += 1
    if i >= len(text):
        return False
    # A capitalised name is a component, never an HTML element; "<>" and "</>" are fragments.
    return text[i] == ">" or text[i].isupper()


def _balanced(text: str, i: int, close: str) -> int | None:
    """The offset after the `close` that ends the construct opened just before `text[i]`,
    skipping quoted strings, comments and nested braces; None if it never closes."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'`":
            end = text.find(c, i + 1)
            if end < 0:
                return None
            i = end + 1
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return None
            i = end + 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0 and close == "}":
                return i + 1
            depth -= 1
        elif c == close and depth == 0:
            return i + 1
        i += 1
    return None
