"""The claim-check work store: where a job's intermediate data lives between steps.

Steps exchange only keys and small summaries through Temporal; bodies, sections and vectors
go to `_work/{jobId}/...` on the same storage backend as the artifacts. Key names derive from
(job, step, batch) only, so a retried step overwrites exactly what an earlier attempt wrote.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pressroom.storage import Store

WORK_ROOT = "_work"


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
    def media(self) -> str:
        return f"{self.prefix}/parsed/media.jsonl"

    @property
    def errors(self) -> str:
        return f"{self.prefix}/parsed/errors.jsonl"

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


async def fetch_to(store: Store, key: str, dest: Path) -> Path:
    """Download a work-store object to a local scratch path and return the path."""
    await store.get_file(key, dest)
    return dest
