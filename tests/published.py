"""Published-bytes guard for integrity tests: sha256 of every published file, before and after.

A hostile or careless request may add new files (a new revision, a moved `latest.json` of
its own folder) but must never change or remove a file that was already published.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# `latest.json` is the one published file that moves by design; callers that expect it to
# stay put pass `include_latest=True`.
LATEST = "latest.json"


def snapshot(root: Path, *, include_latest: bool = False) -> dict[str, str]:
    """sha256 of every regular file under `root` (published artifacts), by relative path.

    The work store (`_work/`) is scratch, not published data, and is left out.
    """
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith("_work/"):
            continue
        if path.name == LATEST and not include_latest:
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    """Every file in `before` is still there with the same bytes (new files are fine)."""
    changed = sorted(p for p, digest in before.items() if after.get(p) != digest)
    assert not changed, f"published files changed or removed: {changed[:20]}"
