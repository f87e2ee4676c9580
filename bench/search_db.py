"""search.db beside search.json: build time, bytes and the builder's peak RSS over a
generated corpus (bench/generate.py), 10,000 posts by default.

Runs the real fetch, parse and embed steps (local hashing embedder, no Temporal, no
database), then writes search.json and search.db from the same work-store files as the
build step does, one after the other in this process, sampling its RSS while each runs:

    .venv/bin/python -m bench.search_db [--posts 10000] [--json out.json]

Peak RSS is the process's highest resident size while the writer ran, and its rise over
the resident size before (what the writer itself added).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from bench.generate import generate_corpus
from pressroom.embeddings import HashingEmbedder
from pressroom.publish import artifacts
from pressroom.search.search_db_writer import write_search_db
from pressroom.sources import SourceLimits
from pressroom.steps.artifacts import _media, _posts, search_entries
from pressroom.steps.embed import EmbedInput, embed_batch, embedding_info
from pressroom.steps.env import EmbedEnv, StepEnv
from pressroom.steps.fetch import FetchInput, fetch_source
from pressroom.steps.load import download_parsed, download_vectors
from pressroom.steps.parse import ParseInput, parse_source
from pressroom.storage.local import LocalStore
from pressroom.storage.workstore import WorkKeys

_LIMITS = SourceLimits(max_total_bytes=1 << 30, max_files=100_000, max_file_bytes=64 << 20)


def _measured(write: Callable[[], Any]) -> dict[str, float]:
    """Seconds, peak RSS and its rise over the start (MB) while `write` runs."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.01):
            peak = max(peak, proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        write()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    mb = 1 << 20
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak / mb, 1),
            "rss_rise_mb": round((peak - base) / mb, 1)}  # fmt: skip


async def run(posts: int, work: Path) -> dict[str, Any]:
    corpus = generate_corpus(work / "corpus", posts)
    store, keys, embedder = (
        LocalStore(work / "store"),
        WorkKeys("bench-search-db"),
        HashingEmbedder(),
    )

    def env(step: str) -> StepEnv:
        return StepEnv(store=store, keys=keys, scratch=work / step)

    summary = await fetch_source(FetchInput(str(corpus), _LIMITS), env("fetch"))
    parsed = await parse_source(ParseInput(batch_size=512), env("parse"))
    for kind, batches in (("text", parsed.text_batches), ("media", parsed.media_batches)):
        embed_env = EmbedEnv(store=store, keys=keys, scratch=work / f"embed-{kind}",
                             embedder=embedder)  # fmt: skip
        for batch in range(batches):
            await embed_batch(EmbedInput(kind=kind, batch=batch), embed_env)
    build = env("build")
    build.scratch.mkdir(parents=True)
    posts_path, media_path = await download_parsed(build, parsed.media_batches)
    text, images = await download_vectors(build, parsed.text_batches, parsed.media_batches)
    info = embedding_info(embedder).model_dump()
    out = work / "out"
    rev = summary.revision_id
    results = {
        "search.json": _measured(
            lambda: artifacts.write_search_json(
                out / "search.json",
                search_entries(posts_path, media_path, text, images),
                revision_id=rev,
                site="bench",
                **info,
            )
        ),
        "search.db": _measured(
            lambda: write_search_db(
                out / "search.db",
                posts=_posts(posts_path),
                media=_media(media_path),
                entries=search_entries(posts_path, media_path, text, images),
                related=None,
                revision_id=rev,
                site="bench",
                embedding=info,
            )
        ),
    }
    for name, figures in results.items():
        figures["bytes"] = (out / name).stat().st_size
    return {"posts": posts, "files": results}


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"| file ({doc['posts']:,} generated posts) | build | bytes | peak RSS | RSS rise |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in doc["files"].items():
        lines.append(
            f"| {name} | {f['seconds']:.2f} s | {f['bytes'] / (1 << 20):.1f} MiB "
            f"| {f['peak_rss_mb']:.0f} MB | {f['rss_rise_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pressroom-bench-searchdb-"))
    try:
        doc = asyncio.run(run(args.posts, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(markdown(doc))


if __name__ == "__main__":
    main()
