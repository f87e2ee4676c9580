"""Image previews stored with a revision (`media_thumbnails`): replaced by the load step,
read by the API's `GET /media/{site}/{path}`. Making them is `pressroom.content.thumbnails`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

__all__ = ["get_thumbnail", "store_thumbnails"]

if TYPE_CHECKING:
    from pressroom.content.thumbnails import Thumbnail


async def store_thumbnails(
    conn: asyncpg.Connection, site: str, revision_id: str, thumbnails: list[Thumbnail]
) -> int:
    """Replace a revision's thumbnails (one transaction, so a retry never duplicates)."""
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM media_thumbnails WHERE site_id = $1 AND revision_id = $2",
            site,
            revision_id,
        )
        await conn.copy_records_to_table(
            "media_thumbnails",
            records=[
                (site, revision_id, t.path, t.mime, t.width, t.height, t.data) for t in thumbnails
            ],
            columns=["site_id", "revision_id", "path", "mime", "width", "height", "data"],
        )
    return len(thumbnails)


async def get_thumbnail(
    conn: asyncpg.Connection, site: str, path: str
) -> tuple[str, bytes, str] | None:
    """(mime, bytes, revision) of an image's thumbnail in the site's current revision."""
    row = await conn.fetchrow(
        """
        SELECT t.mime, t.data, t.revision_id FROM sites AS s
        JOIN media_thumbnails AS t
          ON t.site_id = s.site_id AND t.revision_id = s.current_revision AND t.path = $2
        WHERE s.site_id = $1
        """,
        site,
        path,
    )
    return None if row is None else (row["mime"], bytes(row["data"]), row["revision_id"])
