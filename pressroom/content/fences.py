"""Fenced code blocks found in raw Markdown source, before any parser sees it: the template
pre-pass (content.template_syntax) and the MDX pass (content.mdx) leave their contents alone.
"""

from __future__ import annotations

import bisect
import re

__all__ = ["fenced_code", "inside"]

_FENCE = re.compile(r"^[ \t>]*(`{3,}|~{3,})(.*)$")


def fenced_code(text: str) -> list[tuple[int, int]]:
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


def inside(ranges: list[tuple[int, int]], offset: int) -> bool:
    """True when `offset` falls in one of the sorted, disjoint `ranges`."""
    index = bisect.bisect_right(ranges, offset, key=lambda r: r[0]) - 1
    return index >= 0 and ranges[index][0] <= offset < ranges[index][1]
