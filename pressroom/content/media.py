"""The media index: which files are images, their type, size, hash and pixel dimensions, and
which posts reference them with what alt text, and which image files name one path twice
(`unique_media_paths`).

Dimensions come from headers only (Pillow's lazy `Image.open`, the SVG root element), so
indexing never decodes full images. Bad image bytes never raise: the file is still listed,
without dimensions.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from xml.parsers.expat import ExpatError, ParserCreate

from PIL import Image

from pressroom.content.paths import keep_first
from pressroom.models import MediaItem, MediaRef, Post, PostError

__all__ = [
    "IMAGE_MIME_TYPES",
    "attach_references",
    "describe_image",
    "is_image_path",
    "unique_media_paths",
]

IMAGE_MIME_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
_PILLOW_FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]

# CSS absolute units in px (CSS px is 1/96 in); relative units (%, em) can't be resolved here.
_SVG_UNITS: dict[str, float] = {
    "": 1.0,
    "px": 1.0,
    "in": 96.0,
    "cm": 96.0 / 2.54,
    "mm": 96.0 / 25.4,
    "pt": 96.0 / 72.0,
    "pc": 16.0,
}
_SVG_LENGTH = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z%]*)\s*$")


class _RootFound(Exception):
    """Stops the SVG parse at the root element: its attributes are all we need."""

    def __init__(self, name: str, attrs: dict[str, str]) -> None:
        super().__init__(name)
        self.name = name
        self.attrs = attrs


class _UnsafeXml(Exception):
    """A DTD or entity declaration: the way in for entity-expansion and external-entity attacks."""


def is_image_path(rel_path: str) -> bool:
    """True for png, jpg/jpeg, gif, webp and svg files (by extension, any case)."""
    return PurePosixPath(rel_path).suffix.lower() in IMAGE_MIME_TYPES


def unique_media_paths(paths: Iterable[str]) -> tuple[list[str], list[PostError]]:
    """The image files to index, and a per-media error for each file whose path another file
    names once backslashes are read as separators (`img/a.png` and `img\\a.png` are one
    file on Windows, and a post linking either could mean both).

    As with post ids (posts.unique_post_paths), the first in sorted path order is kept and
    the error names both files.
    """
    return keep_first(
        paths,
        lambda path: posixpath.normpath(path.replace("\\", "/")).lstrip("/"),
        lambda key, first: (
            f"duplicate media path {key!r}: {first!r} names the same file and "
            f"is kept (the first file in path order wins); rename or remove one of them"
        ),
    )


def describe_image(rel_path: str, data: bytes) -> MediaItem:
    """The media entry for an image file's bytes; width/height None when unreadable."""
    suffix = PurePosixPath(rel_path).suffix.lower()
    mime = IMAGE_MIME_TYPES.get(suffix, "application/octet-stream")
    if suffix == ".svg":
        size = _svg_size(data)
    else:
        size, detected = _raster_size(data)
        # Trust the bytes over the name: a JPEG saved as .png is still a JPEG.
        mime = detected or mime
    width, height = size if size else (None, None)
    return MediaItem(
        path=rel_path,
        mime=mime,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
    )


def _raster_size(data: bytes) -> tuple[tuple[int, int] | None, str | None]:
    try:
        # open() parses the header only; pixels are decoded lazily and never requested here.
        with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as img:
            return (int(img.width), int(img.height)), Image.MIME.get(img.format or "")
    except Exception:
        # Pillow's plugins raise many types on hostile input (OSError, SyntaxError, struct.error,
        # DecompressionBombError, ...); a bad image must never fail the index.
        return None, None


def _svg_root(data: bytes) -> tuple[str, dict[str, str]] | None:
    """Name and attributes of the document's root element, refusing any DTD (as defusedxml)."""

    def on_start(name: str, attrs: dict[str, str]) -> None:
        raise _RootFound(name, attrs)

    def on_dtd(*_: object) -> None:
        raise _UnsafeXml

    # Raw expat, not ElementTree: the handlers see a DOCTYPE before anything is expanded, and
    # the parse ends at the first element instead of building a tree.
    parser = ParserCreate()
    parser.StartElementHandler = on_start
    parser.StartDoctypeDeclHandler = on_dtd
    parser.EntityDeclHandler = on_dtd
    parser.ExternalEntityRefHandler = on_dtd
    try:
        parser.Parse(data, True)
    except _RootFound as found:
        return found.name, found.attrs
    except (_UnsafeXml, ExpatError, ValueError):
        return None
    return None


def _svg_size(data: bytes) -> tuple[int, int] | None:
    root = _svg_root(data)
    if root is None or root[0].rpartition(":")[2] != "svg":
        return None
    attrs = root[1]
    width = _svg_length(attrs.get("width"))
    height = _svg_length(attrs.get("height"))
    box = _svg_viewbox(attrs.get("viewBox"))
    if width is None and height is None and box:
        width, height = box
    elif box and box[0] > 0 and box[1] > 0:
        # One side given: keep the viewBox's aspect ratio for the other.
        if width is None and height is not None:
            width = height * box[0] / box[1]
        elif height is None and width is not None:
            height = width * box[1] / box[0]
    if width is None or height is None:
        return None
    w, h = round(width), round(height)
    return (w, h) if w > 0 and h > 0 else None


def _svg_length(value: str | None) -> float | None:
    if value is None:
        return None
    match = _SVG_LENGTH.match(value)
    if not match:
        return None
    factor = _SVG_UNITS.get(match.group(2).lower())
    if factor is None:
        return None
    length = float(match.group(1)) * factor
    return length if length > 0 else None


def _svg_viewbox(value: str | None) -> tuple[float, float] | None:
    if not value:
        return None
    try:
        parts = [float(p) for p in re.split(r"[\s,]+", value.strip())]
    except ValueError:
        return None
    if len(parts) != 4 or parts[2] <= 0 or parts[3] <= 0:
        return None
    return parts[2], parts[3]


def attach_references(media: dict[str, MediaItem], posts: Iterable[Post]) -> None:
    """Record on each media item the posts (and alt texts) whose image refs resolve to it.

    Identical (post_id, alt) pairs are kept once; order follows the posts, then their images.
    """
    seen: dict[str, set[tuple[str, str]]] = {
        path: {(r.post_id, r.alt) for r in item.referenced_by} for path, item in media.items()
    }
    for post in posts:
        for image in post.images:
            if image.path is None or image.path not in media:
                continue
            key = (post.id, image.alt)
            if key in seen[image.path]:
                continue
            seen[image.path].add(key)
            media[image.path].referenced_by.append(MediaRef(post_id=post.id, alt=image.alt))
