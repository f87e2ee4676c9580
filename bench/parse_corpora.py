"""Parse every post of the shared corpora as the parse step does (profile detected, then
`parse_post` with it) and print the CPU time: median and each of N runs.

    .venv/bin/python -m bench.parse_corpora [runs]

To compare with an older commit, check it out in a worktree and run this file there with
`PYTHONPATH=<worktree>` (a commit before site profiles parses without one).
"""

from __future__ import annotations

import inspect
import os
import statistics
import sys
import time
from pathlib import Path

from pressroom.content.posts import PostParseError, is_post_path, parse_post

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
NAMES = ("go-blog", "hugo-docs", "jekyll-docs")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        os.path.relpath(os.path.join(folder, name), root): (Path(folder) / name).read_bytes()
        for folder, _dirs, names in os.walk(root)
        for name in names
    }


def _run(trees: list[dict[str, bytes]]) -> float:
    with_profile = "profile" in inspect.signature(parse_post).parameters
    start = time.process_time()
    for files in trees:
        options = {}
        if with_profile:
            from pressroom.conventions.detect import detect_profile

            options["profile"] = detect_profile(list(files), files.__getitem__)
        known = frozenset(files)
        for path, data in files.items():
            if is_post_path(path):
                try:
                    parse_post(path, data, known_files=known, **options)
                except PostParseError:
                    pass  # reported per post by the parse step; still parsed
    return time.process_time() - start


def main(runs: int) -> None:
    trees = [_tree(CORPORA / name) for name in NAMES]
    posts = sum(1 for files in trees for path in files if is_post_path(path))
    times = [_run(trees) for _ in range(runs)]
    shown = ", ".join(f"{t:.2f}" for t in times)
    print(f"{posts} posts: median {statistics.median(times):.3f} s CPU ({shown})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
