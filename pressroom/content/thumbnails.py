"""Image previews for search results: small WebP thumbnails stored with the revision.

The load step makes them from the fetch step's snapshot (the only place the image bytes
live once a job is done) and stores them with `pressroom.db.thumbnails`; the API serves them
at `GET /media/{site}/{path}`. Raster formats only: an SVG is never rasterised nor served
(it could carry script), and an unreadable image simply has no thumbnail.
"""

from __future__ import annotations

import io
import logging
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

__all__ = ["Thumbnail", "thumbnails_from_snapshot"]

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 320  # longest side, px
THUMBNAIL_MIME = "image/webp"
_FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]
_QUALITY = 75
# Pillow refuses images over ~179 Mpx (decompression bombs); stay far below that.
_MAX_PIXELS = 50_000_000


@dataclass(frozen=True, slots=True)
class Thumbnail:
    path: str
    width: int
    height: int
    data: bytes
    mime: str = THUMBNAIL_MIME


def make_thumbnail(path: str, data: bytes, size: int = THUMBNAIL_SIZE) -> Thumbnail | None:
    """A WebP preview at most `size` px on its longest side, or None when unreadable."""
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as img:
            if img.width * img.height > _MAX_PIXELS:
                return None
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            frame = ImageOps.exif_transpose(img)
            frame.thumbnail((size, size))
            if frame.mode not in ("RGB", "RGBA"):
                frame = frame.convert("RGBA" if "transparency" in frame.info else "RGB")
            out = io.BytesIO()
            frame.save(out, "WEBP", quality=_QUALITY, method=4)
            return Thumbnail(path, frame.width, frame.height, out.getvalue())
    except Exception as exc:
        # Pillow raises many types on hostile or truncated input; no preview is no failure.
        log.debug("no thumbnail for %s: %r", path, exc)
        return None


def thumbnails_from_snapshot(tar_path: Path, paths: set[str]) -> Iterator[Thumbnail]:
    """Thumbnails of the snapshot's files named in `paths`, read one member at a time."""
    with tarfile.open(tar_path) as tar:
        for member in tar:
            if not member.isfile() or member.name not in paths:
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            thumb = make_thumbnail(member.name, fh.read())
            if thumb is not None:
                yield thumb
