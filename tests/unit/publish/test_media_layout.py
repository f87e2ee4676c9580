"""The published media's layout: `media` is a reserved name, keys are content-addressed, and
media.json's links come from the store's URL form."""

from __future__ import annotations

import hashlib

import pytest

from pressroom.models import MediaItem, MediaRef
from pressroom.publish.layout import PublishRefused, check_names, reserved_reason
from pressroom.publish.media import MediaLinks, media_ext, media_key, thumbnail_key

SHA = hashlib.sha256(b"an image").hexdigest()


@pytest.mark.parametrize("name", ["media", "Media", "MEDIA"])
def test_media_is_reserved(name: str) -> None:
    reason = reserved_reason(name)
    assert reason is not None and "reserved" in reason


@pytest.mark.parametrize("name", ["media-kit", "medias", "social-media", "dist"])
def test_names_around_media_are_not(name: str) -> None:
    assert reserved_reason(name) is None


def test_no_site_can_publish_into_the_media_prefix() -> None:
    # However the job was started (the API refuses these too): the folder, any segment of
    # it, and a site id (a site's default folder is its id).
    for folder in ("media", "media/blog", "blog/media"):
        with pytest.raises(PublishRefused, match="reserved"):
            check_names(site="blog", dist_folder=folder, revision_id=None)
    with pytest.raises(PublishRefused, match="reserved"):
        check_names(site="media", dist_folder="dist", revision_id=None)
    check_names(site="blog", dist_folder="blog/media-kit", revision_id="r-1")


@pytest.mark.parametrize(
    ("mime", "path", "ext"),
    [
        ("image/png", "a/b.PNG", "png"),
        ("image/jpeg", "a/b.jpeg", "jpg"),
        ("image/gif", "b.gif", "gif"),
        ("image/webp", "b.webp", "webp"),
        ("image/svg+xml", "b.svg", "svg"),
        ("image/avif", "b.avif", "avif"),
        ("image/x-unknown", "b.HEIC", "heic"),
        ("image/x-unknown", "b.we ird", "bin"),
        ("image/x-unknown", "noext", "bin"),
    ],
)
def test_media_ext(mime: str, path: str, ext: str) -> None:
    assert media_ext(mime, path) == ext


def test_keys_are_content_addressed_and_checked() -> None:
    assert media_key(SHA, "image/png", "x/y.png") == f"media/{SHA}.png"
    assert thumbnail_key(SHA, "webp-320-q75-m2") == f"media/{SHA}.thumb-webp-320-q75-m2.webp"
    # Another spec never names the same object: a spec change writes new keys.
    assert thumbnail_key(SHA, "webp-480-q80-m2") != thumbnail_key(SHA, "webp-320-q75-m2")
    for bad in ("../" + SHA[3:], SHA.upper(), SHA[:-1], ""):
        with pytest.raises(ValueError):
            media_key(bad, "image/png")
    with pytest.raises(ValueError):
        thumbnail_key(SHA, "../x")


def test_links_fill_urls_and_count_distinct_keys() -> None:
    svg_sha = hashlib.sha256(b"<svg/>").hexdigest()
    bad_sha = hashlib.sha256(b"not an image").hexdigest()
    items = [
        MediaItem(path="a/x.png", mime="image/png", bytes=8, sha256=SHA),
        # The same bytes elsewhere in the tree: the same key.
        MediaItem(path="b/x.png", mime="image/png", bytes=8, sha256=SHA, url="/b/x.png"),
        MediaItem(path="c.svg", mime="image/svg+xml", bytes=6, sha256=svg_sha),
        MediaItem(path="d.jpg", mime="image/jpeg", bytes=12, sha256=bad_sha),  # unreadable
    ]
    items[0].referenced_by.append(MediaRef(post_id="p", alt="x"))
    links = MediaLinks(
        url_for=lambda key: f"https://cdn.example.com/{key}",
        thumbnails=frozenset({SHA, svg_sha}),
        spec="webp-320-q75-m2",
    )
    out = list(links.link_all(items))
    assert out[0].published_url == f"https://cdn.example.com/media/{SHA}.png"
    assert out[0].thumbnail_url == (
        f"https://cdn.example.com/media/{SHA}.thumb-webp-320-q75-m2.webp"
    )
    assert out[1].published_url == out[0].published_url
    assert out[1].url == "/b/x.png"  # the site URL is left as it was
    assert out[0].referenced_by == items[0].referenced_by
    assert out[2].published_url == f"https://cdn.example.com/media/{svg_sha}.svg"
    assert out[2].thumbnail_url is None  # an SVG never has a preview
    assert out[3].thumbnail_url is None
    entry = links.manifest_entry()
    assert (entry["images"], entry["thumbnails"]) == (3, 1)
    assert entry["cacheControl"] == "public, max-age=31536000, immutable"
