"""Image previews for search results: small WebP thumbnails, one per image content.

A thumbnail depends only on the image's bytes and on `THUMBNAIL_SPEC`, so it is made once per
(image sha256, spec) and shared by every revision and site (`pressroom.db.thumbnails` stores
it; `pressroom.steps.thumbnails` makes the missing ones before the load transaction). Raster
formats only: an SVG is never rasterised nor served (it could carry script), and an
unreadable image has no thumbnail (remembered too, so it is not tried again).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageOps

__all__ = ["THUMBNAIL_SPEC", "PixelBudget", "Thumbnail", "make_thumbnail"]

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 320  # longest side, px
THUMBNAIL_MIME = "image/webp"
_FORMATS = ["PNG", "JPEG", "GIF", "WEBP"]
_QUALITY = 75
_METHOD = 2  # method 4: 2x the encode time (a third of the whole) for 4% smaller files
# Pillow refuses images over ~179 Mpx (decompression bombs); stay far below that.
_MAX_PIXELS = 50_000_000
# Names everything that decides a thumbnail's bytes: change it with any of them, so cached
# thumbnails of the old settings are no longer used.
THUMBNAIL_SPEC = f"webp-{THUMBNAIL_SIZE}-q{_QUALITY}-m{_METHOD}"


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """The preview of the image whose bytes hash to `image_sha256`; `data` None: the image
    cannot be read, so it has no preview."""

    image_sha256: str
    data: bytes | None
    width: int = 0
    height: int = 0
    mime: str = THUMBNAIL_MIME


class PixelBudget:
    """Pixels decoded at once, across the threads that make thumbnails.

    A decoded image holds about 4 bytes a pixel, so two large screenshots decoded side by
    side cost more memory than the rest of the job (go-blog: a 2458x1741 PNG is 17 MB, and
    the worker peaked at 237 MB with two such decodes). Small images still decode in
    parallel; an image larger than the whole budget waits until it can decode alone."""

    def __init__(self, pixels: int) -> None:
        self.limit = max(1, pixels)
        self.used = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        need = min(max(1, pixels), self.limit)
        with self._changed:
            self._changed.wait_for(lambda: self.used + need <= self.limit)
            self.used += need
        try:
            yield
        finally:
            with self._changed:
                self.used -= need
                self._changed.notify_all()


def make_thumbnail(
    image_sha256: str,
    data: bytes,
    size: int = THUMBNAIL_SIZE,
    budget: PixelBudget | None = None,
) -> Thumbnail | None:
    """A WebP preview at most `size` px on its longest side (`data` None when unreadable);
    None when memory ran out, which says nothing about the image (it is tried again later).
    With a `budget`, the decode waits for its pixels (after JPEG draft scaling) to fit."""
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as img:
            if img.width * img.height > _MAX_PIXELS:
                return Thumbnail(image_sha256, None)
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            if budget is None:
                return _preview(image_sha256, img, size)
            with budget.hold(img.width * img.height):
                return _preview(image_sha256, img, size)
    except MemoryError:
        log.warning("no memory for a thumbnail of image %s (a later job tries again)", image_sha256)
        return None
    except Exception as exc:
        # Pillow raises many types on hostile or truncated input; no preview is no failure.
        log.debug("no thumbnail for image %s: %r", image_sha256, exc)
        return Thumbnail(image_sha256, None)


def _preview(image_sha256: str, img: Image.Image, size: int) -> Thumbnail:
    # In place: a copy would hold a second full-size image (go-blog: 17 MB for its
    # largest PNG) in every decoding thread.
    ImageOps.exif_transpose(img, in_place=True)
    frame = img
    frame.thumbnail((size, size))
    if frame.mode not in ("RGB", "RGBA"):
        frame = frame.convert("RGBA" if "transparency" in frame.info else "RGB")
    out = io.BytesIO()
    frame.save(out, "WEBP", quality=_QUALITY, method=_METHOD)
    return Thumbnail(image_sha256, out.getvalue(), frame.width, frame.height)
