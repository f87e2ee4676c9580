"""kramdown attribute lists, as Jekyll reads them: `{: #id .class}` on the line after a block
(or before it), `## Title {#id}` on a heading, and span lists after inline elements. A
markdown-it core rule applies the ids and classes and removes the lists from the text.
"""

from __future__ import annotations

import re

from markdown_it.rules_core import StateCore
from markdown_it.token import Token

__all__ = ["kramdown_attributes"]


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


def kramdown_attributes(state: StateCore) -> None:
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
