"""Parse a snapshot on every core: contiguous slices of the posts, one per process.

Slice 0 is parsed here, in a thread (a small repository stops there); each further slice in
a child process (`python -m pressroom.steps.parse_part`) that imports only the parsing
modules, parses straight to its part files and reports progress on stdout. The parse step
concatenates the parts in order afterwards. Children start with the step and exit with it,
so an idle worker holds no extra memory; a failed child fails the step (a retryable error)
and a cancelled step kills its children.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from pressroom.steps import Progress
from pressroom.steps.parse_part import PartSummary, PartWriter, PostOptions, Snapshot

__all__ = ["parse_parts"]

THREAD_CHUNK = 64  # posts parsed per thread hop, so heartbeats keep flowing


class _Progress:
    def __init__(self, parts: int, total: int, sink: Progress) -> None:
        self.done, self.total, self.sink = [0] * parts, total, sink

    def report(self, part: int, done: int) -> None:
        self.done[part] = done
        self.sink(sum(self.done), self.total, "parsing posts")


async def _parse_here(
    snapshot: Snapshot,
    paths: list[str],
    out: Path,
    progress: _Progress,
    options: PostOptions,
) -> PartSummary:
    writer = PartWriter(snapshot, out, 0, options)
    try:
        for start in range(0, len(paths), THREAD_CHUNK):
            chunk = paths[start : start + THREAD_CHUNK]
            await asyncio.to_thread(writer.parse, chunk)
            progress.report(0, start + len(chunk))
    finally:
        summary = writer.close()
    return summary


async def _parse_in_child(cmd: list[str], part: int, progress: _Progress) -> PartSummary:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if proc.stdout is None or proc.stderr is None:  # cannot happen with PIPE; for the types
        raise RuntimeError("parse part started without pipes")
    summary: PartSummary | None = None
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    try:
        async for raw in proc.stdout:
            kind, _, rest = raw.decode().strip().partition(" ")
            if kind == "progress":
                progress.report(part, int(rest))
            elif kind == "summary":
                summary = PartSummary(**json.loads(rest))
        code = await proc.wait()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    finally:
        stderr = (await stderr_task).decode(errors="replace")
    if code != 0 or summary is None:
        raise RuntimeError(f"parse part {part} exited with {code}: {stderr[-2000:]}")
    return summary


def _child_command(
    tar_path: Path, index: Path, paths: Path, out: Path, part: int, options: list[str]
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pressroom.steps.parse_part",
        "--snapshot",
        str(tar_path),
        "--index",
        str(index),
        "--paths",
        str(paths),
        "--out",
        str(out),
        "--part",
        str(part),
        *options,
    ]


def _prepare(out: Path, snapshot: Snapshot, slices: list[list[str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if len(slices) > 1:
        snapshot.save_index(out / "index.json")
    for part, paths in enumerate(slices[1:], 1):
        (out / f"paths-{part:03d}.txt").write_text("\n".join(paths), encoding="utf-8")


async def parse_parts(
    snapshot: Snapshot,
    tar_path: Path,
    post_paths: list[str],
    out: Path,
    options: PostOptions,
    *,
    processes: int,
    progress: Progress,
) -> list[PartSummary]:
    """Parse `post_paths` in `processes` slices (1: all here); part k is the k-th slice."""
    size = max(1, -(-len(post_paths) // max(1, processes)))
    slices = [post_paths[i : i + size] for i in range(0, len(post_paths), size)] or [[]]
    await asyncio.to_thread(_prepare, out, snapshot, slices)
    tracker = _Progress(len(slices), len(post_paths), progress)
    argv = options.argv(out / "profile.json")
    tasks: list[asyncio.Task[PartSummary]] = []
    # A TaskGroup: one failed part cancels (and so kills) the others.
    async with asyncio.TaskGroup() as group:
        for part in range(1, len(slices)):
            paths = out / f"paths-{part:03d}.txt"
            cmd = _child_command(tar_path, out / "index.json", paths, out, part, argv)
            tasks.append(group.create_task(_parse_in_child(cmd, part, tracker)))
        here = group.create_task(_parse_here(snapshot, slices[0], out, tracker, options))
    return [here.result(), *(t.result() for t in tasks)]
