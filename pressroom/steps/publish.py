"""Step 7, publish: copy the built artifacts under `{distFolder}/{revisionId}/`, then `latest.json`.

The revision's files are immutable once written (same revision, same bytes); `latest.json` is
written last, so a reader that follows it always finds a complete revision.
"""

from __future__ import annotations

import json
from pathlib import Path

from pressroom.models import PublishSummary
from pressroom.steps import Progress
from pressroom.storage import Store
from pressroom.workstore import WorkKeys

CONTENT_TYPES = {".json": "application/json"}


def latest_key(dist_folder: str) -> str:
    return f"{dist_folder}/latest.json"


def revision_prefix(dist_folder: str, revision_id: str) -> str:
    return f"{dist_folder}/{revision_id}"


async def publish_artifacts(
    store: Store,
    keys: WorkKeys,
    *,
    site: str,
    dist_folder: str,
    revision_id: str,
    files: list[str],
    published_at: str,
    scratch: Path,
    progress: Progress,
) -> PublishSummary:
    prefix = revision_prefix(dist_folder, revision_id)
    for i, name in enumerate(files):
        local = scratch / name
        await store.get_file(keys.artifact(name), local)
        await store.put_file(
            f"{prefix}/{name}",
            local,
            CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"),
        )
        progress(i + 1, len(files) + 1, f"uploaded {name}")
    latest = {
        "site": site,
        "revision": revision_id,
        "manifest": f"{revision_id}/manifest.json",
        "publishedAt": published_at,
    }
    await store.put_bytes(
        latest_key(dist_folder), json.dumps(latest, indent=2).encode(), "application/json"
    )
    progress(len(files) + 1, len(files) + 1, "latest.json written")
    return PublishSummary(
        base_url=store.url_for(prefix),
        latest_url=store.url_for(latest_key(dist_folder)),
        files=[f"{prefix}/{name}" for name in files],
        uploaded=len(files) + 1,
    )
