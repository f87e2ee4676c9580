"""Published media: the content-addressed keys of images and thumbnails, and their URLs.

With media publishing on (`JobInput.publish_media`), every image of a revision and its
thumbnail are copied to the store root, beside the sites' folders:

    media/{sha256}.{ext}                  the image's bytes as they are in the source tree
    media/{sha256}.thumb-{spec}.webp      its preview (`pressroom.content.thumbnails`)

A key names its bytes (the image's sha256; for a preview also everything that decides its
bytes, the thumbnail spec), so one key is written once and never again: a later revision or
another site with the same image finds it there and uploads nothing, and a new thumbnail
spec writes new keys instead of rewriting published ones. Objects are served with an
immutable cache lifetime. The uploads themselves are `pressroom.steps.publish_media`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pressroom.models import MediaItem

__all__ = [
    "MEDIA_CACHE_CONTROL",
    "MEDIA_PREFIX",
    "SVG_MIME",
    "MediaLinks",
    "media_ext",
    "media_key",
    "thumbnail_key",
]

MEDIA_PREFIX = "media"
# Content-addressed: the bytes behind a key never change, so caches may keep them for good.
MEDIA_CACHE_CONTROL = "public, max-age=31536000, immutable"
SVG_MIME = "image/svg+xml"
THUMBNAIL_EXT = "webp"  # pressroom.content.thumbnails makes WebP only

_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    SVG_MIME: "svg",
    "image/avif": "avif",
    "image/apng": "apng",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "image/x-icon": "ico",
    "image/vnd.microsoft.icon": "ico",
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_EXT = re.compile(r"[a-z0-9]{1,8}")
_SAFE_SPEC = re.compile(r"[A-Za-z0-9._-]{1,64}")


def media_ext(mime: str, path: str = "") -> str:
    """The key's extension: from the mime type, else the file's own (when it is a plain
    short one), else `bin`."""
    known = _EXTENSIONS.get(mime.lower())
    if known:
        return known
    suffix = PurePosixPath(path).suffix.lower().lstrip(".")
    return suffix if _SAFE_EXT.fullmatch(suffix) else "bin"


def _checked_sha(sha256: str) -> str:
    # The hash becomes a key at the store root: anything but 64 hex digits is a bug upstream.
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
    return sha256


def media_key(sha256: str, mime: str, path: str = "") -> str:
    """`media/{sha256}.{ext}`: where an image's bytes are published."""
    return f"{MEDIA_PREFIX}/{_checked_sha(sha256)}.{media_ext(mime, path)}"


def thumbnail_key(sha256: str, spec: str) -> str:
    """`media/{sha256}.thumb-{spec}.webp`: where an image's preview under `spec` is published."""
    if not _SAFE_SPEC.fullmatch(spec):
        raise ValueError(f"unsafe thumbnail spec for a key: {spec!r}")
    return f"{MEDIA_PREFIX}/{_checked_sha(sha256)}.thumb-{spec}.{THUMBNAIL_EXT}"


@dataclass
class MediaLinks:
    """Fills `published_url` and `thumbnail_url` of a revision's media items.

    `url_for` is the store's (`Store.url_for`: `ARTIFACTS_PUBLIC_URL` + key when set, else
    the store's own URL), the same that names the published revision in job results;
    `thumbnails` are the image hashes that have a preview under `spec` (SVGs and unreadable
    images have none, and get no `thumbnail_url`). Counts the distinct keys it linked.
    """

    url_for: Callable[[str], str]
    thumbnails: frozenset[str]
    spec: str
    images: set[str] = field(default_factory=set)
    previews: set[str] = field(default_factory=set)

    def link(self, item: MediaItem) -> MediaItem:
        key = media_key(item.sha256, item.mime, item.path)
        self.images.add(key)
        thumbnail_url = None
        if item.sha256 in self.thumbnails and item.mime != SVG_MIME:
            preview = thumbnail_key(item.sha256, self.spec)
            self.previews.add(preview)
            thumbnail_url = self.url_for(preview)
        return item.model_copy(
            update={"published_url": self.url_for(key), "thumbnail_url": thumbnail_url}
        )

    def link_all(self, items: Iterable[MediaItem]) -> Iterator[MediaItem]:
        return (self.link(item) for item in items)

    def manifest_entry(self) -> dict[str, Any]:
        """What the manifest says of the revision's published media."""
        return {
            "prefix": f"{MEDIA_PREFIX}/",
            "images": len(self.images),
            "thumbnails": len(self.previews),
            "thumbnailSpec": self.spec,
            "cacheControl": MEDIA_CACHE_CONTROL,
        }
