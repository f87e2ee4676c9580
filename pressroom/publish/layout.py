"""The published layout's rules: reserved names, site-owned folders, immutable revisions.

Layout, on the artifact store (a local directory or an S3/R2 bucket):

    {distFolder}/latest.json            the site's current revision (moves forward only)
    {distFolder}/{revision}/...         posts.json, media.json, search.json, manifest.json
    media/{sha256}.{ext}                images (and their thumbnails) when a job publishes
                                        media: content-addressed, shared by every site
                                        (pressroom/publish/media.py)
    _work/{jobId}/...                   a job's claim-check data (not published)

- A published folder belongs to one site. The first job that publishes to a folder claims
  it for its site (`published_folders` in Postgres); a job of another site is refused, and
  so is a folder nested inside or around another claimed folder. A folder published before
  claims existed is adopted for the site its `latest.json` names.
- A published revision is immutable. A revision's *output key* hashes everything that
  changes its bytes (content, what the task builds, the embedding provider/model/version/
  dimensions, the format version, the build options); the derived revision id comes from it.
  Once `{distFolder}/{revision}/manifest.json` exists, a job with the same output key reuses
  it as it is and a job with another output key is refused, before anything is written.
- Names the layout itself uses can never be an id or a folder segment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import asyncpg

from pressroom.db import folders
from pressroom.db.locks import advisory_lock
from pressroom.db.sites import loaded_output_key
from pressroom.models import EmbeddingInfo
from pressroom.storage.base import StorageError, Store

__all__ = [
    "KIND_FULL",
    "KIND_PARSE",
    "PublishRefused",
    "admit_revision",
    "claim_folder",
    "folder_conflict",
    "kind_rank",
    "latest_key",
    "manifest_key",
    "output_key",
    "publish_lock_name",
    "published_manifest",
    "refuse_other_loaded",
    "refuse_other_published",
    "reserved_reason",
    "revision_prefix",
]

# Bumped whenever artifacts built from the same input would come out different.
FORMAT_VERSION = "pressroom/3"

# Names the published layout and the work store use for themselves. `media` is the store-root
# prefix of published images: a site (whose default folder is its id) or a folder named so
# would share it with every site's images.
RESERVED_NAMES: frozenset[str] = frozenset(
    {
        "latest.json",
        "manifest.json",
        "posts.json",
        "media.json",
        "search.json",
        "errors.json",
        "media",
    }
)

# What a task builds: a full revision (embeddings, database, related posts) or the parsed
# JSON alone. `latest.json` never moves from a full revision to a parse-only one.
KIND_FULL = "full"
KIND_PARSE = "parse"
_KIND_RANK = {KIND_PARSE: 0, KIND_FULL: 1}


class PublishRefused(Exception):
    """The job may not publish where it asked to: bad input, never worth retrying."""

    def __init__(self, message: str, *, owner: str | None = None) -> None:
        super().__init__(message)
        self.owner = owner


def reserved_reason(name: str) -> str | None:
    """Why `name` may not be a revision id, site id or folder segment; None when it may."""
    if name.startswith((".", "_")):
        return f"{name!r} is reserved: names starting with '.' or '_' belong to the layout"
    if name.lower() in RESERVED_NAMES:
        return f"{name!r} is reserved: the published layout uses that name"
    return None


def kind_rank(kind: str | None) -> int:
    """Order of revision kinds for `latest.json`; a pointer without a kind is a full one."""
    return _KIND_RANK.get(kind or KIND_FULL, _KIND_RANK[KIND_FULL])


# --- output identity ----------------------------------------------------------------------


def output_key(
    *,
    content_id: str,
    kind: str,
    embedding: EmbeddingInfo | None,
    options: Mapping[str, Any] | None = None,
    nonce: str | None = None,
) -> str:
    """sha256 (hex) of everything that decides a revision's published bytes.

    `nonce` makes the key unique (a forced re-embed may yield other vectors for the same
    input, so it must never claim an existing revision's name).
    """
    doc = {
        "format": FORMAT_VERSION,
        "content": content_id,
        "kind": kind,
        "embedding": embedding.model_dump() if embedding and kind == KIND_FULL else None,
        "options": dict(options or {}),
        "nonce": nonce,
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def derived_revision_id(key: str) -> str:
    """The revision id of an output key: `r-` + 16 hex digits."""
    return "r-" + key[:16]


# --- keys -----------------------------------------------------------------------------------


def latest_key(dist_folder: str) -> str:
    return f"{dist_folder}/latest.json"


def revision_prefix(dist_folder: str, revision_id: str) -> str:
    return f"{dist_folder}/{revision_id}"


def manifest_key(dist_folder: str, revision_id: str) -> str:
    return f"{revision_prefix(dist_folder, revision_id)}/manifest.json"


async def read_json(store: Store, key: str) -> dict[str, Any] | None:
    """A JSON object stored at `key`; None when missing or not a JSON object."""
    try:
        if not await store.exists(key):
            return None
        doc = json.loads(await store.get_bytes(key))
    except (StorageError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


# --- site-owned folders ----------------------------------------------------------------------


def _conflict_message(folder: str, site: str, other_folder: str, owner: str) -> str:
    if other_folder == folder:
        return f"distFolder {folder!r} belongs to site {owner!r}, not {site!r}"
    return (
        f"distFolder {folder!r} overlaps {other_folder!r} (site {owner!r}): a published "
        "folder may not sit inside or around another one"
    )


def _conflict(claims: list[tuple[str, str]], folder: str, site: str) -> PublishRefused | None:
    """The first of `claims` (overlapping `folder`) that is not `site`'s own claim on it."""
    for other_folder, owner in claims:
        if other_folder == folder and owner == site:
            continue
        return PublishRefused(_conflict_message(folder, site, other_folder, owner), owner=owner)
    return None


async def folder_conflict(
    conn: asyncpg.Connection, location: str, folder: str, site: str
) -> PublishRefused | None:
    """Why `site` may not publish to `folder` per the recorded claims; None when it may."""
    return _conflict(await folders.overlapping_claims(conn, location, folder), folder, site)


async def _unrecorded_owner(store: Store, folder: str) -> tuple[str, str] | None:
    """(folder, site) of a folder published before claims existed that overlaps `folder`:
    its own `latest.json`, an ancestor's, or a descendant's."""
    parts = folder.split("/")
    for depth in range(len(parts), 0, -1):
        candidate = "/".join(parts[:depth])
        doc = await read_json(store, latest_key(candidate))
        if doc is not None:
            return candidate, str(doc.get("site") or "")
    for key in await store.list_keys(folder + "/"):
        if key.endswith("/latest.json") and key != latest_key(folder):
            doc = await read_json(store, key)
            return key.removesuffix("/latest.json"), str((doc or {}).get("site") or "")
    return None


async def claim_folder(
    conn: asyncpg.Connection, store: Store, folder: str, site: str, job_id: str
) -> None:
    """Claim `folder` for `site` on `store`, or raise PublishRefused.

    Serialised per store by an advisory lock (in its own transaction), so two sites racing
    for one new folder cannot both win. Idempotent for the owner.
    """
    async with conn.transaction():
        await advisory_lock(conn, f"pressroom.folders:{store.location}")
        claims = await folders.overlapping_claims(conn, store.location, folder)
        conflict = _conflict(claims, folder, site)
        if conflict is not None:
            raise conflict
        if (folder, site) in claims:  # already ours
            return
        found = await _unrecorded_owner(store, folder)
        if found is not None:
            other_folder, owner = found
            if owner and (owner != site or other_folder != folder):
                # Record what the store says, so the next request is refused at once.
                await folders.record_claim(conn, store.location, other_folder, owner, "")
                raise PublishRefused(
                    _conflict_message(folder, site, other_folder, owner), owner=owner
                )
        await folders.record_claim(conn, store.location, folder, site, job_id)


# --- immutable revisions ---------------------------------------------------------------------


async def published_manifest(
    store: Store, dist_folder: str, revision_id: str
) -> dict[str, Any] | None:
    """The manifest of a published revision; None while the revision is not published."""
    return await read_json(store, manifest_key(dist_folder, revision_id))


def refuse_other_published(
    manifest: Mapping[str, Any] | None, key: str, *, dist_folder: str, revision_id: str
) -> None:
    """PublishRefused when `revision_id` is published (its `manifest`) with another output."""
    if manifest is not None and manifest.get("outputKey") != key:
        raise PublishRefused(
            f"revision {revision_id!r} is already published under {dist_folder!r} with "
            "other content or settings, and published revisions are immutable: use a new "
            "revisionId (or omit it to derive one from the content)"
        )


def refuse_other_loaded(loaded: str | None, key: str, *, site: str, revision_id: str) -> None:
    """PublishRefused when `revision_id` is loaded in Postgres with another output key
    (`loaded` None: not loaded, or loaded before output keys were recorded)."""
    if key and loaded and loaded != key:
        raise PublishRefused(
            f"revision {revision_id!r} of site {site!r} is already loaded from other content "
            "or settings: use a new revisionId (or omit it to derive one from the content)"
        )


async def check_revision(
    conn: asyncpg.Connection,
    store: Store,
    *,
    site: str,
    dist_folder: str,
    revision_id: str,
    key: str,
) -> bool:
    """Whether `revision_id` may be built with output `key`: False when it is new, True when
    it is already published with this very output (the job reuses it). Raises PublishRefused
    when the id names other output, published or loaded."""
    manifest = await published_manifest(store, dist_folder, revision_id)
    refuse_other_published(manifest, key, dist_folder=dist_folder, revision_id=revision_id)
    refuse_other_loaded(
        await loaded_output_key(conn, site, revision_id), key, site=site, revision_id=revision_id
    )
    return manifest is not None


def publish_lock_name(store: Store, dist_folder: str, revision_id: str) -> str:
    return f"pressroom.publish:{store.location}/{revision_prefix(dist_folder, revision_id)}"


def check_names(*, site: str, dist_folder: str, revision_id: str | None) -> None:
    """Refuse reserved names however the job was started (the API refuses them too)."""
    for what, name in (
        ("site", site),
        ("revisionId", revision_id),
        *(("distFolder", part) for part in dist_folder.split("/")),
    ):
        reason = reserved_reason(name) if name else None
        if reason is not None:
            raise PublishRefused(f"{what}: {reason}")


async def admit_revision(
    conn: asyncpg.Connection,
    store: Store,
    *,
    site: str,
    job_id: str,
    dist_folder: str,
    client_revision: str | None,
    key: str,
) -> tuple[str, bool]:
    """Before any work is done: claim the folder for the site and check the revision id.

    Returns the revision id (the client's, else derived from `key`) and whether that
    revision is already published with this output. Raises PublishRefused otherwise.
    """
    revision_id = client_revision or derived_revision_id(key)
    check_names(site=site, dist_folder=dist_folder, revision_id=revision_id)
    await claim_folder(conn, store, dist_folder, site, job_id)
    published = await check_revision(
        conn, store, site=site, dist_folder=dist_folder, revision_id=revision_id, key=key
    )
    return revision_id, published
