"""Image previews: the content-addressed store (`image_thumbnails`, one row per image sha256 and
thumbnail spec, shared by every revision and site) and each revision's links to it
(`media_thumbnails`, written inside the load transaction), read by the API's
`GET /media/{site}/{path}`. Making them is `pressroom.content.thumbnails`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

__all__ = [
    "StoredThumbnail",
    "get_thumbnail",
    "known_thumbnails",
    "link_thumbnails",
    "previewed_images",
    "put_thumbnails",
    "read_thumbnail",
    "thumbnail_data",
]

if TYPE_CHECKING:
    from pressroom.content.thumbnails import Thumbnail

# Keys per statement: bounded array parameters.
_CHUNK = 5_000

_KNOWN_SQL = """
    SELECT image_sha256 FROM image_thumbnails
    WHERE spec = $1 AND image_sha256 = ANY($2::text[])
"""
_PUT_SQL = """
    INSERT INTO image_thumbnails (image_sha256, spec, mime, width, height, data)
    SELECT t.sha, $1, t.mime, t.width, t.height, t.data
    FROM unnest($2::text[], $3::text[], $4::integer[], $5::integer[], $6::bytea[])
         AS t(sha, mime, width, height, data)
    ON CONFLICT (image_sha256, spec) DO NOTHING
"""


async def known_thumbnails(conn: asyncpg.Connection, spec: str, shas: Sequence[str]) -> set[str]:
    """The image hashes already in the store under `spec` (with a preview or known unreadable):
    those are never decoded again."""
    found: set[str] = set()
    unique = list(dict.fromkeys(shas))
    for start in range(0, len(unique), _CHUNK):
        rows = await conn.fetch(_KNOWN_SQL, spec, unique[start : start + _CHUNK])
        found.update(r["image_sha256"] for r in rows)
    return found


_PREVIEWED_SQL = """
    SELECT image_sha256 FROM image_thumbnails
    WHERE spec = $1 AND image_sha256 = ANY($2::text[]) AND data IS NOT NULL
"""
_DATA_SQL = """
    SELECT image_sha256, mime, data FROM image_thumbnails
    WHERE spec = $1 AND image_sha256 = ANY($2::text[]) AND data IS NOT NULL
    ORDER BY image_sha256
"""


async def previewed_images(conn: asyncpg.Connection, spec: str, shas: Sequence[str]) -> set[str]:
    """The image hashes that have a preview under `spec` (not those known unreadable)."""
    found: set[str] = set()
    unique = list(dict.fromkeys(shas))
    for start in range(0, len(unique), _CHUNK):
        rows = await conn.fetch(_PREVIEWED_SQL, spec, unique[start : start + _CHUNK])
        found.update(r["image_sha256"] for r in rows)
    return found


async def thumbnail_data(
    conn: asyncpg.Connection, spec: str, shas: Sequence[str]
) -> list[tuple[str, str, bytes]]:
    """(image sha256, mime, bytes) of the previews of `shas` under `spec`; callers pass a
    small batch at a time (the bytes are all in memory)."""
    rows = await conn.fetch(_DATA_SQL, spec, list(dict.fromkeys(shas)))
    return [(r["image_sha256"], r["mime"], bytes(r["data"])) for r in rows]


async def put_thumbnails(conn: asyncpg.Connection, spec: str, thumbs: Sequence[Thumbnail]) -> None:
    """Store previews (an unreadable image as a row without data); an existing row wins, so
    a retry or a concurrent job making the same image changes nothing."""
    # Sorted and deduplicated: concurrent writers lock keys in the same order (no deadlock).
    by_sha = {t.image_sha256: t for t in thumbs}
    rows = [by_sha[sha] for sha in sorted(by_sha)]
    if not rows:
        return
    await conn.execute(
        _PUT_SQL,
        spec,
        [t.image_sha256 for t in rows],
        [t.mime if t.data is not None else None for t in rows],
        [t.width if t.data is not None else None for t in rows],
        [t.height if t.data is not None else None for t in rows],
        [t.data for t in rows],
    )


async def link_thumbnails(conn: asyncpg.Connection, site: str, revision_id: str, spec: str) -> int:
    """Link each of a revision's images that has a preview under `spec` to it (an earlier
    attempt's links go first); run inside the load transaction, after the media rows.
    Returns the links written."""
    await conn.execute(
        "DELETE FROM media_thumbnails WHERE site_id = $1 AND revision_id = $2",
        site,
        revision_id,
    )
    status = await conn.execute(
        """
        INSERT INTO media_thumbnails (site_id, revision_id, path, image_sha256, spec)
        SELECT m.site_id, m.revision_id, m.path, m.sha256, t.spec
        FROM media AS m
        JOIN image_thumbnails AS t ON t.image_sha256 = m.sha256 AND t.spec = $3
        WHERE m.site_id = $1 AND m.revision_id = $2 AND t.data IS NOT NULL
          AND m.mime <> 'image/svg+xml'
        """,
        site,
        revision_id,
        spec,
    )
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True, slots=True)
class StoredThumbnail:
    """A served preview: its bytes, the revision it was found in and its content address."""

    mime: str
    data: bytes
    revision_id: str
    image_sha256: str
    spec: str


_READ_SQL = """
    SELECT t.mime, t.data, l.revision_id, t.image_sha256, t.spec FROM {source}
    JOIN image_thumbnails AS t ON t.image_sha256 = l.image_sha256 AND t.spec = l.spec
    WHERE l.site_id = $1 AND l.path = $2 AND t.data IS NOT NULL
"""
_CURRENT_SOURCE = """sites AS s
    JOIN media_thumbnails AS l
      ON l.site_id = s.site_id AND l.revision_id = s.current_revision"""
_REVISION_SOURCE = "media_thumbnails AS l"


async def read_thumbnail(
    conn: asyncpg.Connection, site: str, path: str, revision_id: str | None = None
) -> StoredThumbnail | None:
    """An image's thumbnail in the site's current revision, or in `revision_id` (any revision
    still stored: its links never change, so its answer never does)."""
    if revision_id is None:
        row = await conn.fetchrow(_READ_SQL.format(source=_CURRENT_SOURCE), site, path)
    else:
        row = await conn.fetchrow(
            _READ_SQL.format(source=_REVISION_SOURCE) + " AND l.revision_id = $3",
            site,
            path,
            revision_id,
        )
    if row is None:
        return None
    return StoredThumbnail(
        row["mime"], bytes(row["data"]), row["revision_id"], row["image_sha256"], row["spec"]
    )


async def get_thumbnail(
    conn: asyncpg.Connection, site: str, path: str
) -> tuple[str, bytes, str] | None:
    """(mime, bytes, revision) of an image's thumbnail in the site's current revision."""
    found = await read_thumbnail(conn, site, path)
    return None if found is None else (found.mime, found.data, found.revision_id)
