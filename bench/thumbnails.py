"""The thumbnails step's work on a real corpus: a cold store (every image decoded) with one
thread and with every core, then a warm store (a second job of any site: nothing decoded).

Fetches and parses the corpus with the real steps (no Temporal), then times
`steps.thumbnails.make_missing_thumbnails` (what the thumbnails step runs) against a
Postgres of its own:

    .venv/bin/python -m bench.thumbnails                       # go-blog, embedded Postgres
    .venv/bin/python -m bench.thumbnails --corpus ../shared/corpora/hugo-docs --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pressroom.db.pool import connect, create_pool
from pressroom.models import ThumbnailCounts
from pressroom.runtime.embedded import embedded_postgres_url
from pressroom.sources import SourceLimits
from pressroom.steps.env import DatabaseEnv, StepEnv
from pressroom.steps.fetch import FetchInput, fetch_source
from pressroom.steps.parse import ParseInput, parse_source
from pressroom.steps.thumbnails import make_missing_thumbnails, thumbnail_workers
from pressroom.storage.local import LocalStore
from pressroom.storage.workstore import WorkKeys

REPO_ROOT = Path(__file__).resolve().parent.parent
GO_BLOG = REPO_ROOT.parent / "shared" / "corpora" / "go-blog"
_LIMITS = SourceLimits(max_total_bytes=512 << 20, max_files=50_000, max_file_bytes=64 << 20)


async def _timed(env: DatabaseEnv, media: Path, workers: int) -> tuple[float, ThumbnailCounts]:
    start = time.perf_counter()
    counts = await make_missing_thumbnails(env, media, workers)
    return time.perf_counter() - start, counts


async def run(corpus: Path, db_url: str, work: Path, rounds: int) -> None:
    store, keys = LocalStore(work / "store"), WorkKeys("bench-thumbnails")
    await fetch_source(
        FetchInput(str(corpus), _LIMITS), StepEnv(store=store, keys=keys, scratch=work / "fetch")
    )
    await parse_source(
        ParseInput(batch_size=512), StepEnv(store=store, keys=keys, scratch=work / "parse")
    )
    media = work / "media.jsonl"
    await store.get_file(keys.media, media)
    async with await create_pool(db_url, min_size=1, max_size=2) as pool:
        env = DatabaseEnv(store=store, keys=keys, scratch=work / "load", pool=pool)
        cores = thumbnail_workers()
        times: dict[str, list[float]] = {"cold, 1 thread": [], f"cold, {cores} threads": []}
        times["warm (second job)"] = []
        for _ in range(rounds):
            for label, workers in (("cold, 1 thread", 1), (f"cold, {cores} threads", cores)):
                async with pool.acquire() as conn:
                    await conn.execute("TRUNCATE image_thumbnails")  # the bench's own database
                took, cold = await _timed(env, media, workers)
                times[label].append(took)
            took, warm = await _timed(env, media, cores)
            times["warm (second job)"].append(took)
    print(
        f"{corpus.name}: {cold.made + cold.unreadable} images decoded cold "
        f"({cold.made} previews, {cold.unreadable} unreadable); warm: {warm.made} decoded, "
        f"{warm.reused} reused"
    )
    for label, values in times.items():
        print(
            f"  {label:22s} median {statistics.median(values):6.2f} s  "
            f"({', '.join(f'{v:.2f}' for v in values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=GO_BLOG)
    parser.add_argument("--database-url", help="default: an embedded Postgres in a temp dir")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pressroom-thumbs-") as tmp:
        # Postgres gets a directory of its own: as root, pgserver runs it as another user,
        # who cannot enter a 0700 temp dir of ours.
        pgdata = Path(tempfile.mkdtemp(prefix="pressroom-thumbs-pg-"))
        url = args.database_url or embedded_postgres_url(pgdata, stop_on_exit=True)
        asyncio.run(_migrated_then_run(args.corpus, url, Path(tmp), args.rounds))
        shutil.rmtree(pgdata, ignore_errors=True)


async def _migrated_then_run(corpus: Path, url: str, work: Path, rounds: int) -> None:
    conn = await connect(url)  # migrates
    await conn.close()
    await run(corpus, url, work, rounds)


if __name__ == "__main__":
    main()
