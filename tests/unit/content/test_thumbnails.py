"""Thumbnails: WebP previews of raster images, keyed by the image's content hash."""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from pressroom.content.thumbnails import THUMBNAIL_SPEC, PixelBudget, make_thumbnail


def encoded(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_a_large_png_becomes_a_webp_at_most_320_px() -> None:
    thumb = make_thumbnail("sha-a", encoded(Image.new("RGB", (1600, 800), "teal"), "PNG"))
    assert thumb is not None and thumb.data is not None
    assert thumb.image_sha256 == "sha-a" and thumb.mime == "image/webp"
    assert (thumb.width, thumb.height) == (320, 160)
    img = decoded(thumb.data)
    assert img.format == "WEBP" and img.size == (320, 160)


def test_a_small_image_keeps_its_size() -> None:
    thumb = make_thumbnail("s", encoded(Image.new("RGB", (40, 30), "red"), "JPEG"))
    assert thumb is not None and (thumb.width, thumb.height) == (40, 30)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encoded(Image.new("RGB", (640, 320), "navy"), "JPEG", exif=exif)
    thumb = make_thumbnail("s", data)
    assert thumb is not None and (thumb.width, thumb.height) == (160, 320)


def test_palette_transparency_is_kept() -> None:
    img = Image.new("P", (64, 64), 0)
    img.info["transparency"] = 0
    thumb = make_thumbnail("s", encoded(img, "GIF", transparency=0))
    assert thumb is not None and thumb.data is not None
    assert decoded(thumb.data).mode == "RGBA"


def test_unreadable_bytes_and_svg_have_no_preview_but_a_result() -> None:
    # A result without data is remembered, so the image is never tried again.
    for data in (b"not an image", encoded(Image.new("RGB", (8, 8)), "PNG")[:40], b"<svg/>"):
        thumb = make_thumbnail("bad", data)
        assert thumb is not None and thumb.image_sha256 == "bad" and thumb.data is None


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    crc = struct.pack(">I", zlib.crc32(chunk))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + crc


def test_a_huge_image_is_refused_from_its_header() -> None:
    thumb = make_thumbnail("huge", _png_header(10_000, 6_000))
    assert thumb is not None and thumb.data is None


def test_the_same_bytes_make_the_same_preview() -> None:
    data = encoded(Image.radial_gradient("L").convert("RGB"), "PNG")
    first, second = make_thumbnail("g", data), make_thumbnail("g", data)
    assert first is not None and second is not None and first.data == second.data


def test_the_spec_names_size_format_and_quality() -> None:
    assert THUMBNAIL_SPEC == "webp-320-q75-m2"


def test_the_pixel_budget_keeps_large_decodes_apart_and_lets_small_ones_share() -> None:
    budget = PixelBudget(6_000_000)
    inside: list[int] = []
    most = [0]
    lock = threading.Lock()

    def decode(pixels: int) -> None:
        with budget.hold(pixels):
            with lock:
                inside.append(pixels)
                most[0] = max(most[0], sum(inside))
            time.sleep(0.02)
            with lock:
                inside.remove(pixels)

    def run(sizes: list[int]) -> int:
        most[0] = 0
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(decode, sizes))
        return most[0]

    assert run([4_300_000] * 4) == 4_300_000  # one large screenshot at a time
    assert run([1_000_000] * 4) >= 2_000_000  # small ones side by side
    assert run([50_000_000, 10]) == 50_000_000  # larger than the budget: decoded alone
    assert budget.used == 0
