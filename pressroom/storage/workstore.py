"""The claim-check work store: where a job's intermediate data lives between steps.

Steps exchange only keys and small summaries through Temporal; bodies, sections and vectors
go to `_work/{jobId}/...` on the same storage backend as the artifacts. Key names derive from
(job, step, batch) only, so a retried step overwrites exactly what an earlier attempt wrote.

Per-file reports live here too, in full, as JSON lines of `{"path", "reason"}` (the step
results carry only a bounded prefix): `source-errors.jsonl` (files the fetch step left out of
the snapshot: names that are not UTF-8, hard links), and the parse step's
`parsed/errors.jsonl` (every file left out of the revision, the fetch step's included),
`parsed/warnings.jsonl` (posts kept with a field cut) and `parsed/skipped.jsonl` (drafts).
`read_post_errors` reads any of them back.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pressroom.models import PostError
from pressroom.storage.base import Store

__all__ = [
    "FINISHED_NAME",
    "PURGED_NAME",
    "WORK_ROOT",
    "WorkKeys",
    "read_jsonl",
    "read_post_errors",
    "vectors_from_bytes",
    "vectors_to_bytes",
    "write_jsonl",
]

WORK_ROOT = "_work"
FINISHED_NAME = "finished.json"
PURGED_NAME = "purged.json"


class WorkKeys:
    """Every work-store key of one job, in one place."""

    def __init__(self, job_id: str) -> None:
        self.prefix = f"{WORK_ROOT}/{job_id}"

    @property
    def source(self) -> str:
        return f"{self.prefix}/source.tar"

    @property
    def posts(self) -> str:
        return f"{self.prefix}/parsed/posts.jsonl"

    @property
    def profile(self) -> str:
        """The site profile the parse step used (pressroom.conventions), as JSON."""
        return f"{self.prefix}/parsed/profile.json"

    @property
    def media(self) -> str:
        return f"{self.prefix}/parsed/media.jsonl"

    @property
    def fetch_errors(self) -> str:
        """Files the fetch step left out of the snapshot, with the reason."""
        return f"{self.prefix}/source-errors.jsonl"

    @property
    def errors(self) -> str:
        """Every file left out of the revision (fetch and parse), with the reason."""
        return f"{self.prefix}/parsed/errors.jsonl"

    @property
    def warnings(self) -> str:
        """Posts kept with a field cut to its cap, with what was cut."""
        return f"{self.prefix}/parsed/warnings.jsonl"

    @property
    def skipped(self) -> str:
        """Posts skipped on purpose (drafts), with the reason."""
        return f"{self.prefix}/parsed/skipped.jsonl"

    def embed_inputs(self, kind: str, batch: int) -> str:
        return f"{self.prefix}/embed/{kind}-{batch:05d}.jsonl"

    def vectors(self, kind: str, batch: int) -> str:
        return f"{self.prefix}/vectors/{kind}-{batch:05d}.npy"

    def image(self, sha256: str) -> str:
        """An image's bytes, by content, for the steps that need them after parse."""
        return f"{self.prefix}/media/{sha256}"

    def descriptions(self, kind: str, batch: int) -> str:
        """Image descriptions written by a media embed batch: JSON lines {id, description}."""
        return f"{self.prefix}/vectors/{kind}-{batch:05d}.descriptions.jsonl"

    def embed_failures(self, kind: str, batch: int) -> str:
        """Inputs of an embed batch the provider refused: JSON lines {id, reason}."""
        return f"{self.prefix}/vectors/{kind}-{batch:05d}.failures.jsonl"

    def artifact(self, name: str) -> str:
        return f"{self.prefix}/artifacts/{name}"

    @property
    def finished(self) -> str:
        """The marker of a finished job whose work store is kept (pressroom.storage.retention)."""
        return f"{self.prefix}/{FINISHED_NAME}"

    @property
    def purged(self) -> str:
        """The tombstone the janitor leaves where it purged the work store."""
        return f"{self.prefix}/{PURGED_NAME}"


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON lines; returns the row count."""
    count = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            count += 1
    return count


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def vectors_to_bytes(vectors: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def vectors_from_bytes(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


async def read_post_errors(store: Store, key: str, scratch: Path) -> list[PostError]:
    """The full list behind one of the report keys (`WorkKeys.errors`, `.warnings`,
    `.skipped`, `.fetch_errors`), in the order the step wrote it; [] when the key is absent
    (a job from before the key existed, or a step that found nothing).

    Downloads to `scratch` (a file path) first, so memory holds the rows, never the raw file
    twice. Each row is at most ~5 KiB (PostError bounds path and reason).
    """
    if not await store.exists(key):
        return []
    await store.get_file(key, scratch)
    return [PostError(**row) for row in read_jsonl(scratch)]
