"""The static JSON artifacts of a revision: posts.json, media.json, search.json, manifest.json.

Files are written to a local directory (publishing copies them elsewhere). Documents are
streamed: one array element per line, written as it is produced, so memory stays flat however
many posts there are. Each file is written under a temporary name and renamed into place, so
a crashed or retried build never leaves a truncated artifact behind.

search.json carries vectors as base64 of little-endian float32 (`"encoding": "base64-f32le"`):
exact, about a third of the size of a JSON number list, and decodable in a browser with
`new Float32Array(Uint8Array.from(atob(s), c => c.charCodeAt(0)).buffer)`.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TextIO

import numpy as np

from pressroom.models import MediaItem, Post
from pressroom.storage.base import sha256_file

__all__ = [
    "ERRORS_JSON",
    "MANIFEST_JSON",
    "MEDIA_JSON",
    "POSTS_JSON",
    "SEARCH_JSON",
    "SEARCH_TEXT_LIMIT",
    "SearchEntry",
    "build_manifest",
    "content_type",
    "decode_vector",
    "trim_text",
    "write_errors_json",
    "write_manifest",
    "write_media_json",
    "write_posts_json",
    "write_search_json",
]

POSTS_JSON = "posts.json"
MEDIA_JSON = "media.json"
SEARCH_JSON = "search.json"
MANIFEST_JSON = "manifest.json"
ERRORS_JSON = "errors.json"

VECTOR_ENCODING = "base64-f32le"
SEARCH_TEXT_LIMIT = 2000

_F32LE = np.dtype("<f4")


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """One row of search.json: a post section or an image, with its vector."""

    kind: Literal["section", "image"]
    id: str  # section id (`post_id#anchor`) or the image's repo-relative path
    post_id: str | None  # the post a section belongs to / the first post showing the image
    title: str  # post title
    vector: np.ndarray | None  # None when the task did not embed (parse-only)
    url: str = ""  # where the site serves the post or image ("" when unknown)
    anchor: str = ""
    heading: str = ""
    text: str = ""
    tags: list[str] = field(default_factory=list)
    date: str | None = None
    # The post's own fields, written on its first section entry only (`post_fields`): a
    # summary repeated on every section would weigh on a file browsers download whole.
    post_fields: bool = False
    updated: str | None = None
    authors: list[str] = field(default_factory=list)
    summary: str = ""
    published_url: str = ""  # an image's copy in the artifact store (media publishing)


def encode_vector(vector: np.ndarray) -> str:
    """base64 of the vector as little-endian float32."""
    return base64.b64encode(np.asarray(vector, dtype=_F32LE).tobytes()).decode("ascii")


def decode_vector(data: str) -> np.ndarray:
    """The inverse of `encode_vector` (native-endian float32 result)."""
    return np.frombuffer(base64.b64decode(data, validate=True), dtype=_F32LE).astype(np.float32)


def trim_text(text: str, limit: int = SEARCH_TEXT_LIMIT) -> str:
    """At most `limit` characters, cut at a word boundary when one is near, marked with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space >= len(cut) * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _dumps(value: Any) -> str:
    # allow_nan=False: NaN/Infinity are not JSON, and browsers' JSON.parse rejects them.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@contextmanager
def _atomic_text(path: Path) -> Iterator[TextIO]:
    """A text file that appears at `path` only once it is completely written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file owner-only; artifacts are public, meant to be served as is.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_document(
    path: Path, header: Mapping[str, Any], key: str, items: Iterable[Mapping[str, Any]]
) -> int:
    """Write `{**header, key: [items...], "count": n}` streaming; returns n."""
    count = 0
    with _atomic_text(path) as out:
        out.write("{")
        for name, value in header.items():
            out.write(f"{_dumps(name)}:{_dumps(value)},\n")
        out.write(f"{_dumps(key)}:[")
        for item in items:
            out.write(",\n" if count else "\n")
            out.write(_dumps(item))
            count += 1
        out.write(f'\n],\n"count":{count}}}\n')
    return count


def _post_record(post: Post) -> dict[str, Any]:
    record = post.model_dump(mode="json", exclude={"sections"})
    # Section bodies are already in the post's `text`; the outline is what a reader needs.
    record["sections"] = [
        {
            "id": s.id,
            "anchor": s.anchor,
            "heading": s.heading,
            "level": s.level,
            "position": s.position,
        }
        for s in post.sections
    ]
    return record


def write_posts_json(
    path: Path,
    posts: Iterable[Post],
    *,
    revision_id: str,
    site: str,
    related: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> int:
    """posts.json: every post with html, text, the section outline, links and images.
    With `related` (post id -> related posts, from the database) each post also gets its
    `related` list (empty when it has none). Returns the number of posts written."""
    header = {"format": "pressroom.posts/1", "site": site, "revision": revision_id}

    def records() -> Iterator[dict[str, Any]]:
        for p in posts:
            record = _post_record(p)
            if related is not None:
                record["related"] = [dict(r) for r in related.get(p.id, ())]
            yield record

    return _write_document(path, header, "posts", records())


def write_media_json(path: Path, media: Iterable[MediaItem], *, revision_id: str, site: str) -> int:
    """media.json: every image with mime, size, sha256, dimensions and referencing posts
    (and, when the job publishes media, its `published_url` and `thumbnail_url`)."""
    header = {"format": "pressroom.media/1", "site": site, "revision": revision_id}
    return _write_document(path, header, "media", (m.model_dump(mode="json") for m in media))


def _search_record(entry: SearchEntry, dimensions: int | None, text_limit: int) -> dict[str, Any]:
    if entry.kind not in ("section", "image"):
        raise ValueError(f"search entry {entry.id!r}: unknown kind {entry.kind!r}")
    encoded: str | None = None
    if dimensions is None:
        if entry.vector is not None:
            raise ValueError(f"search entry {entry.id!r}: a vector, but no embedding declared")
    elif entry.vector is None:
        pass  # this entry's input was refused by the provider: `"vector": null`
    else:
        vector = np.asarray(entry.vector)
        if vector.shape != (dimensions,):
            raise ValueError(
                f"search entry {entry.id!r}: vector shape {vector.shape}, expected ({dimensions},)"
            )
        if not np.isfinite(vector).all():
            raise ValueError(f"search entry {entry.id!r}: vector is not finite")
        encoded = encode_vector(vector)
    record: dict[str, Any] = {
        "kind": entry.kind,
        "id": entry.id,
        "post_id": entry.post_id,
        "url": entry.url,
        "anchor": entry.anchor,
        "title": entry.title,
        "heading": entry.heading,
        "text": trim_text(entry.text, text_limit),
        "tags": list(entry.tags),
        "date": entry.date,
    }
    if entry.post_fields:
        record.update(updated=entry.updated, authors=list(entry.authors), summary=entry.summary)
    if entry.kind == "image":
        record["published_url"] = entry.published_url
    record["vector"] = encoded
    return record


def write_search_json(
    path: Path,
    entries: Iterable[SearchEntry],
    *,
    revision_id: str,
    site: str,
    provider: str | None = None,
    model: str | None = None,
    dimensions: int | None = None,
    version: str = "",
    text_limit: int = SEARCH_TEXT_LIMIT,
) -> int:
    """search.json: sections and images with their vectors, usable without the database.
    Each section carries its post's `url` (or "") and `date`; the post's first section also
    its `updated`, `authors` and `summary`.

    Without `dimensions` (a task that did not embed) entries carry `"vector": null` and the
    header's `embedding` is null: the file still serves full-text search."""
    embedding = None
    if dimensions is not None:
        embedding = {
            "provider": provider,
            "model": model,
            "dimensions": dimensions,
            "version": version,
            "encoding": VECTOR_ENCODING,
            "normalized": True,
        }
    header = {
        "format": "pressroom.search/1",
        "site": site,
        "revision": revision_id,
        "embedding": embedding,
    }
    records = (_search_record(e, dimensions, text_limit) for e in entries)
    return _write_document(path, header, "entries", records)


def write_errors_json(
    path: Path,
    reports: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    revision_id: str,
    site: str,
) -> dict[str, int]:
    """errors.json: every file left out of the revision (`errors`), every post kept with a
    field cut (`warnings`) and every draft skipped (`skipped`), each `{path, reason}`, in
    full (job results carry only the first few). Streamed; returns the count per list."""
    counts: dict[str, int] = {}
    with _atomic_text(path) as out:
        header = {"format": "pressroom.errors/1", "site": site, "revision": revision_id}
        out.write(_dumps(header)[:-1])  # the object stays open for the lists
        for key, rows in reports.items():
            out.write(f",\n{_dumps(key)}:[")
            n = 0
            for row in rows:
                out.write(",\n" if n else "\n")
                out.write(_dumps({"path": row["path"], "reason": row["reason"]}))
                n += 1
            out.write("]")
            counts[key] = n
        out.write(f',\n"counts":{_dumps(counts)}}}\n')
    return counts


# Types `mimetypes` does not know (or guesses otherwise on some systems): search.db's is the
# IANA type for SQLite files (application/x-sqlite3 is the older unregistered one).
_CONTENT_TYPES = {".db": "application/vnd.sqlite3"}


def content_type(name: str) -> str:
    """A published file's Content-Type by its name (a `.gz` file's is gzip's, not its
    contents': it is served as the compressed file it is)."""
    if (known := _CONTENT_TYPES.get(PurePosixPath(name).suffix)) is not None:
        return known
    guessed, encoding = mimetypes.guess_type(name)
    if encoding == "gzip":
        return "application/gzip"
    return guessed or "application/octet-stream"


def build_manifest(
    dir: Path,
    files: Sequence[str],
    *,
    site: str,
    revision_id: str,
    counts: Mapping[str, int],
    embedding: Mapping[str, Any],
    created_at: str,
    output_key: str = "",
    kind: str = "full",
    profile: Mapping[str, Any] | None = None,
    media: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of a built revision: what it holds and the sha256/size of every file,
    and the site profile (generator, base URL, what the tree contributed) it was built with.

    `files` are POSIX paths relative to `dir`; the manifest does not list itself.
    `output_key` identifies the revision's output (pressroom/publication.py): a later job
    may reuse this revision only with the same key. `media` (when the job publishes media)
    says where and how many of the revision's images and previews are published.
    """
    listed: dict[str, dict[str, Any]] = {}
    for name in files:
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"manifest file name must be relative and inside the dir: {name!r}")
        file_path = dir.joinpath(*rel.parts)
        listed[rel.as_posix()] = {
            "bytes": file_path.stat().st_size,
            "sha256": sha256_file(file_path),
            "content_type": content_type(rel.name),
        }
    manifest = {
        "format": "pressroom.manifest/1",
        "site": site,
        "revision": revision_id,
        "kind": kind,
        "outputKey": output_key,
        "created_at": created_at,
        "counts": dict(counts),
        "embedding": dict(embedding),
        "profile": dict(profile) if profile is not None else None,
        "files": listed,
    }
    if media is not None:
        manifest["media"] = dict(media)
    return manifest


def write_manifest(dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Write manifest.json into `dir` (pretty-printed: it is small and read by people)."""
    path = dir / MANIFEST_JSON
    with _atomic_text(path) as out:
        json.dump(manifest, out, ensure_ascii=False, indent=2, allow_nan=False)
        out.write("\n")
    return path
