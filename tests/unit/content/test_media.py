"""Media index: image detection, dimensions from headers (raster and SVG), references."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from pressroom.content.media import attach_references, describe_image, is_image_path
from pressroom.models import ImageRef, MediaItem, MediaRef, Post
from pressroom.sources import list_source_files
from tests.conftest import REPO_ROOT

JEKYLL = REPO_ROOT.parent / "shared" / "corpora" / "jekyll-docs"
EXAMPLE_BLOG = REPO_ROOT / "examples" / "blog"

# Independently checked with `file(1)`.
JEKYLL_IMAGES = {
    "docs/img/article-footer.png": ("image/png", 700, 80),
    "docs/img/footer-arrow.png": ("image/png", 73, 186),
    "docs/img/footer-logo.png": ("image/png", 456, 138),
    "docs/img/forestry-logo.svg": ("image/svg+xml", 484, 102),  # width="484.1" height="101.9"
    "docs/img/jekyll-og.png": ("image/png", 1280, 640),
    "docs/img/jekyll-sticker.jpg": ("image/jpeg", 662, 417),
    "docs/img/jekyll-sticker.png": ("image/png", 401, 189),
    "docs/img/jekylllayoutconcept.png": ("image/png", 660, 706),
    "docs/img/logo-2x.png": ("image/png", 498, 230),
    "docs/img/logo-rss.png": ("image/png", 144, 73),
    "docs/img/octojekyll.png": ("image/png", 660, 552),
    "docs/img/spacer.gif": ("image/gif", 1, 1),
    "docs/img/twitter-card.png": ("image/png", 460, 460),
}


def test_jekyll_corpus_images_all_described() -> None:
    images = [f for f in list_source_files(JEKYLL) if is_image_path(f.path)]
    assert sorted(f.path for f in images) == sorted(JEKYLL_IMAGES)
    for f in images:
        item = describe_image(f.path, (JEKYLL / f.path).read_bytes())
        assert (item.mime, item.width, item.height) == JEKYLL_IMAGES[f.path], f.path
        assert item.path == f.path
        assert item.bytes == f.size
        assert item.sha256 == f.sha256
        assert item.referenced_by == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.png", True),
        ("a/B.JPG", True),
        ("x.jpeg", True),
        ("x.Gif", True),
        ("x.webp", True),
        ("logo.SVG", True),
        ("x.bmp", False),
        ("x.md", False),
        ("png", False),
        ("x.png.txt", False),
    ],
)
def test_is_image_path(path: str, expected: bool) -> None:
    assert is_image_path(path) is expected


def _raster(fmt: str, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 80, 40)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [
        ("a.webp", "WEBP", "image/webp"),
        ("a.jpeg", "JPEG", "image/jpeg"),
        ("a.gif", "GIF", "image/gif"),
    ],
)
def test_raster_formats(name: str, fmt: str, mime: str) -> None:
    item = describe_image(name, _raster(fmt, (37, 21)))
    assert (item.mime, item.width, item.height) == (mime, 37, 21)


def test_mime_follows_content_not_extension() -> None:
    item = describe_image("mislabelled.png", _raster("JPEG", (5, 4)))
    assert (item.mime, item.width, item.height) == ("image/jpeg", 5, 4)


def test_dimensions_come_from_headers_only() -> None:
    # A valid header with the pixel data cut off: decoding would fail, reading the size must not.
    data = _raster("PNG", (3000, 2000))
    item = describe_image("cut.png", data[:200])
    assert (item.width, item.height) == (3000, 2000)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, b"GIF89a\xff"],
)
def test_corrupt_images_are_listed_without_dimensions(data: bytes) -> None:
    item = describe_image("broken.png", data)
    assert item.width is None and item.height is None
    assert item.mime == "image/png"
    assert item.bytes == len(data)
    assert item.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("svg", "size"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg" width="120px" height="40px"/>', (120, 40)),
        ('<svg width="2in" height="1in"/>', (192, 96)),
        ('<svg width="72pt" height="10mm"/>', (96, 38)),
        ('<svg viewBox="0 0 300 150"/>', (300, 150)),
        ('<svg viewBox="0,0,300,150" width="100%" height="100%"/>', (300, 150)),
        ('<svg viewBox="0 0 300 150" width="600"/>', (600, 300)),
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n<!-- c -->\n<svg:svg xmlns:svg='
            '"http://www.w3.org/2000/svg" width="8" height="9"/>',
            (8, 9),
        ),
        ('<svg width="10em" height="5em"/>', None),
        ("<svg/>", None),
        ('<html width="10" height="10"/>', None),
        ("<svg width='10' height='10'", None),
        ("not xml at all", None),
    ],
)
def test_svg_dimensions(svg: str, size: tuple[int, int] | None) -> None:
    item = describe_image("logo.svg", svg.encode())
    assert item.mime == "image/svg+xml"
    assert ((item.width, item.height) if item.width is not None else None) == size


@pytest.mark.parametrize(
    "svg",
    [
        # Billion laughs: must be refused, not expanded.
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<svg width="10" height="10"><text>&lol2;</text></svg>',
        # External entity.
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<svg width="10" height="10">&xxe;</svg>',
        '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg width="10" height="10"/>',
    ],
)
def test_svg_with_dtd_is_refused(svg: str) -> None:
    item = describe_image("evil.svg", svg.encode())
    assert item.width is None and item.height is None


def test_svg_in_utf16_with_dtd_is_still_refused() -> None:
    svg = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE s [<!ENTITY a "b">]>'
        '<svg width="1" height="1"/>'
    )
    assert describe_image("u.svg", svg.encode("utf-16")).width is None
    ok = '<?xml version="1.0" encoding="UTF-16"?><svg width="3" height="4"/>'
    item = describe_image("u.svg", ok.encode("utf-16"))
    assert (item.width, item.height) == (3, 4)


def _post(post_id: str, *images: ImageRef) -> Post:
    return Post(id=post_id, slug=post_id, path=f"{post_id}.md", title=post_id, images=list(images))


def test_attach_references() -> None:
    media = {
        "img/a.png": MediaItem(path="img/a.png", mime="image/png", bytes=1, sha256="x"),
        "img/b.svg": MediaItem(path="img/b.svg", mime="image/svg+xml", bytes=1, sha256="y"),
    }
    media["img/b.svg"].referenced_by.append(MediaRef(post_id="old", alt="kept"))
    posts = [
        _post(
            "p2",
            ImageRef(src="../img/a.png", path="img/a.png", alt="A chart"),
            ImageRef(src="/img/a.png", path="img/a.png", alt="A chart"),  # same pair: once
            ImageRef(src="a.png", path="img/a.png", alt="Another alt"),
            ImageRef(src="https://cdn.example/x.png", path=None, alt="external"),
            ImageRef(src="missing.png", path="img/missing.png", alt="not in media"),
        ),
        _post(
            "p1",
            ImageRef(src="img/a.png", path="img/a.png", alt="A chart"),
            ImageRef(src="img/b.svg", path="img/b.svg", alt="kept"),
        ),
        _post("old", ImageRef(src="img/b.svg", path="img/b.svg", alt="kept")),
    ]
    attach_references(media, posts)
    assert media["img/a.png"].referenced_by == [
        MediaRef(post_id="p2", alt="A chart"),
        MediaRef(post_id="p2", alt="Another alt"),
        MediaRef(post_id="p1", alt="A chart"),
    ]
    assert media["img/b.svg"].referenced_by == [
        MediaRef(post_id="old", alt="kept"),
        MediaRef(post_id="p1", alt="kept"),
    ]
    attach_references(media, posts)  # idempotent
    assert len(media["img/a.png"].referenced_by) == 3


def test_example_blog_images_are_real_and_small() -> None:
    images = [f for f in list_source_files(EXAMPLE_BLOG) if is_image_path(f.path)]
    kinds = set()
    for f in images:
        item = describe_image(f.path, (EXAMPLE_BLOG / f.path).read_bytes())
        assert item.width and item.height, f.path
        kinds.add(item.mime)
    assert {"image/png", "image/jpeg", "image/svg+xml"} <= kinds
    assert 4 <= len(images) <= 6
    total = sum(f.size for f in list_source_files(EXAMPLE_BLOG))
    assert total < 200_000
