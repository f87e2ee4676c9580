"""Search quality on the jekyll-docs corpus: recall@10 and MRR per mode (text, vector, hybrid).

Loads the corpus into Postgres through the real pipeline steps (fetch, parse, embed, load:
the functions the Temporal activities wrap), runs every query of `tests/data/queries.yaml`
in each mode and prints a markdown table:

    .venv/bin/python -m bench.search_quality            # embedded Postgres in a temp dir
    .venv/bin/python -m bench.search_quality --database-url postgresql://...

recall@10: the share of a query's expected posts found among its first 10 posts, averaged
over queries. MRR: the mean over queries of 1 / rank of the first expected post (0 if none
is in the first 10).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pressroom.db.pool import connect, create_pool
from pressroom.embeddings import HashingEmbedder
from pressroom.embeddings.base import Embedder
from pressroom.search.fusion import Fusion
from pressroom.search.params import SearchParams
from pressroom.search.searcher import Searcher
from pressroom.sources import SourceLimits
from pressroom.steps.embed import EmbedInput, embed_batch, embedding_info
from pressroom.steps.env import DatabaseEnv, EmbedEnv, RevisionTarget, StepEnv
from pressroom.steps.fetch import FetchInput, fetch_source
from pressroom.steps.load import LoadInput, load_database
from pressroom.steps.parse import ParseInput, parse_source
from pressroom.storage.local import LocalStore
from pressroom.storage.workstore import WorkKeys

REPO_ROOT = Path(__file__).resolve().parent.parent
JEKYLL = REPO_ROOT.parent / "shared" / "corpora" / "jekyll-docs"
QUERIES = REPO_ROOT / "tests" / "data" / "queries.yaml"
MODES = ("text", "vector", "hybrid")
CUTOFF = 10

_LIMITS = SourceLimits(max_total_bytes=512 << 20, max_files=50_000, max_file_bytes=64 << 20)


async def load_site(
    db_url: str,
    source: Path,
    *,
    site: str,
    work_dir: Path,
    embedder: Embedder | None = None,
    job_id: str | None = None,
    default_lang: str = "english",
) -> str:
    """Fetch, parse, embed and load `source` as `site` (no Temporal); returns the revision."""
    embedder = embedder or HashingEmbedder(384)
    job_id = job_id or f"quality-{site}"
    store = LocalStore(work_dir / "store")
    keys = WorkKeys(job_id)
    scratch = Path(tempfile.mkdtemp(prefix="pressroom-quality-", dir=work_dir))
    try:
        def env(step: str) -> StepEnv:
            return StepEnv(store=store, keys=keys, scratch=scratch / step)

        summary = await fetch_source(FetchInput(str(source), _LIMITS), env("fetch"))
        parsed = await parse_source(ParseInput(batch_size=512), env("parse"))
        for kind, batches in (("text", parsed.text_batches), ("media", parsed.media_batches)):
            embed_env = EmbedEnv(
                store=store, keys=keys, scratch=scratch / f"embed-{kind}", embedder=embedder
            )
            for batch in range(batches):
                await embed_batch(EmbedInput(kind=kind, batch=batch), embed_env)
        pool = await create_pool(db_url, min_size=1, max_size=2)
        try:
            load = LoadInput(
                target=RevisionTarget(site=site, revision_id=summary.revision_id, job_id=job_id),
                embedding=embedding_info(embedder),
                text_batches=parsed.text_batches,
                media_batches=parsed.media_batches,
                default_lang=default_lang,
            )
            await load_database(
                load, DatabaseEnv(store=store, keys=keys, scratch=scratch / "load", pool=pool)
            )
        finally:
            await pool.close()
        return summary.revision_id
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class Query:
    query: str
    expected: tuple[str, ...]


def load_queries(path: Path = QUERIES) -> list[Query]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Query(q["query"], tuple(q["expected"])) for q in doc["queries"]]


@dataclass(frozen=True)
class ModeScore:
    mode: str
    recall_at_10: float
    mrr: float
    misses: tuple[str, ...]  # queries with no expected post in the first 10


def score(ranked: Sequence[str], expected: Sequence[str]) -> tuple[float, float]:
    """(recall@10, reciprocal rank) of one query's ranked post ids."""
    top = list(ranked[:CUTOFF])
    found = [p for p in expected if p in top]
    first = min((top.index(p) + 1 for p in found), default=None)
    return len(found) / len(expected), (1.0 / first if first else 0.0)


async def evaluate(
    db_url: str, site: str, queries: Sequence[Query], searcher: Searcher
) -> list[ModeScore]:
    """recall@10 and MRR of each mode over `queries` on a loaded site."""
    conn = await connect(db_url)
    try:
        out = []
        for mode in MODES:
            recalls, rrs, misses = [], [], []
            for q in queries:
                params = SearchParams(query=q.query, site=site, mode=mode, kind="posts", limit=10)
                response = await searcher.search(conn, params)
                ranked = [r["postId"] for r in response["results"]]
                recall, rr = score(ranked, q.expected)
                recalls.append(recall)
                rrs.append(rr)
                if rr == 0:
                    misses.append(q.query)
            out.append(
                ModeScore(
                    mode,
                    round(sum(recalls) / len(recalls), 3),
                    round(sum(rrs) / len(rrs), 3),
                    tuple(misses),
                )
            )
        return out
    finally:
        await conn.close()


def markdown_table(scores: Sequence[ModeScore], queries: int) -> str:
    lines = [
        f"| mode ({queries} queries) | recall@10 | MRR | queries with no hit in the top 10 |",
        "|---|---|---|---|",
    ]
    for s in scores:
        lines.append(f"| {s.mode} | {s.recall_at_10:.3f} | {s.mrr:.3f} | {len(s.misses)} |")
    return "\n".join(lines)


def _work_dir() -> Path:
    work = Path(tempfile.mkdtemp(prefix="pressroom-quality-"))
    work.chmod(0o755)  # the embedded Postgres runs as an unprivileged user: let it in
    return work


async def run(db_url: str | None, fusion: Fusion, verbose: bool) -> list[ModeScore]:
    work = _work_dir()
    try:
        if db_url is None:
            from pressroom.runtime.embedded import embedded_postgres_url

            db_url = embedded_postgres_url(work / "pgdata", stop_on_exit=True)
        source = work / "jekyll-docs"
        shutil.copytree(JEKYLL, source)
        await load_site(db_url, source, site="quality-jekyll", work_dir=work)
        queries = load_queries()
        scores = await evaluate(
            db_url, "quality-jekyll", queries, Searcher(HashingEmbedder(384), fusion)
        )
        print(markdown_table(scores, len(queries)))
        if verbose:
            for s in scores:
                for miss in s.misses:
                    print(f"  {s.mode}: no hit for {miss!r}")
        return scores
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="Postgres with pgvector (default: embedded)")
    parser.add_argument("--k", type=int, default=60, help="RRF k")
    parser.add_argument("--text-weight", type=float, default=1.0)
    parser.add_argument("--vector-weight", type=float, default=1.0)
    parser.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    args = parser.parse_args(argv)
    fusion = Fusion(k=args.k, text_weight=args.text_weight, vector_weight=args.vector_weight)
    asyncio.run(run(args.database_url, fusion, args.verbose))


if __name__ == "__main__":
    main()
