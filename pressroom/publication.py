"""The published layout's rules: reserved names, site-owned folders, immutable revisions.

A published folder (`distFolder`) belongs to one site: its `latest.json` and its
`{revision}/` folders are written by that site's jobs only. A published revision is
immutable: once `{distFolder}/{revision}/manifest.json` exists, no job writes that folder
again. Names the layout itself uses can never be an id or a folder segment.
"""

from __future__ import annotations

# Names the published layout and the work store use for themselves.
RESERVED_NAMES: frozenset[str] = frozenset(
    {"latest.json", "manifest.json", "posts.json", "media.json", "search.json", "errors.json"}
)


def reserved_reason(name: str) -> str | None:
    """Why `name` may not be a revision id, site id or folder segment; None when it may."""
    if name.startswith((".", "_")):
        return f"{name!r} is reserved: names starting with '.' or '_' belong to the layout"
    if name.lower() in RESERVED_NAMES:
        return f"{name!r} is reserved: the published layout uses that name"
    return None
