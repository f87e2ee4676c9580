"""`/search` at interactive speed: latency and throughput of the real API over many sites.

Builds (once, then reuses) bench/search_data.py's database: 3 sites x 3 kept revisions of
10,000 real posts (the replicated mix of the shared corpora). Starts a Temporal dev server
and one API process on it, as production runs them, and measures over HTTP on loopback:

- *sequential*: one client, one query after another: text, vector and hybrid over posts
  and images, and hybrid with each filter (a common tag, a date range, kind=posts, kind=images);
- *concurrent*: 16 clients in a closed loop, hybrid;
- each with the API's answer cache off (every query is new to the database) and, where the
  API has one, on (the same queries asked again, as a search box's users repeat them).

Queries are post titles and headings drawn from the sites themselves with a fixed seed
(what readers type into a search box), plus the 43-query quality set; every request asks a
different site in turn. Each case runs `--runs` times (default 3) and the median run is
reported with its p50/p90/p99.

    python -m bench.search_speed [--pgdata DIR] [--runs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg

from bench.load import LoadResult, run_load
from bench.search_data import SearchData, prepare, site_name
from bench.search_quality import load_queries
from bench.stack import free_port, spawn, start_temporal, stop, wait_healthy

__all__ = ["main"]

SEQUENTIAL = 300  # queries per sequential case and run
CONCURRENT = 2000  # requests per concurrent case and run
CLIENTS = 16


@dataclass(frozen=True)
class Case:
    name: str
    params: dict[str, str]  # besides q and site


async def _queries(data: SearchData, n: int, seed: int = 13) -> tuple[list[str], str]:
    """The quality set, then headings of the first site's posts (what readers type into a
    search box), `n` in all; and the most common tag, for the tag filter."""
    conn = await asyncpg.connect(data.url)
    try:
        rows = await conn.fetch(
            """
            SELECT DISTINCT heading FROM sections
            WHERE site_id = $1 AND revision_id = $2 AND length(heading) BETWEEN 8 AND 60
            """,
            site_name(0),
            data.current[site_name(0)],
        )
        tag = await conn.fetchval(
            """
            SELECT lower(t) FROM posts, unnest(tags) AS t
            WHERE site_id = $1 AND revision_id = $2 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
            """,
            site_name(0),
            data.current[site_name(0)],
        )
    finally:
        await conn.close()
    rng = random.Random(seed)
    headings = sorted(r["heading"] for r in rows)
    picked = rng.sample(headings, min(n, len(headings)))
    quality = [q.query for q in load_queries()]
    return (quality + picked)[:n], tag or "go"


def _cases(tag: str) -> list[Case]:
    return [
        Case("text", {"mode": "text"}),
        Case("vector", {"mode": "vector"}),
        Case("hybrid", {"mode": "hybrid"}),
        Case("hybrid, tag", {"mode": "hybrid", "tags": tag}),
        Case("hybrid, dates", {"mode": "hybrid", "from": "2015-01-01", "to": "2020-01-01"}),
        Case("hybrid, posts", {"mode": "hybrid", "kind": "posts"}),
        Case("hybrid, images", {"mode": "hybrid", "kind": "images"}),
    ]


@asynccontextmanager
async def _api(data: SearchData, root: Path, env_extra: dict[str, str]) -> AsyncIterator[str]:
    """A Temporal dev server and one API process over the bench database."""
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    temporal = await start_temporal(root)
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMBED", "OPENAI"))}
    env = {
        **base,
        "PRESSROOM_STATE_DIR": str(root / "state"),
        "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": "search-bench",
        "DATABASE_URL": data.url,
        "ARTIFACTS_URL": str(root / "artifacts"),
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "EMBEDDING_PROVIDER": "hashing",
        "LOG_LEVEL": "WARNING",
        **env_extra,
    }
    proc = spawn("api", ["-m", "api"], env, root / "api.log")
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(f"{url}/healthz", proc)
        yield url
    finally:
        await stop(proc)
        await temporal.shutdown()


def _request(
    url: str, queries: list[str], sites: int, params: dict[str, str]
) -> Callable[[int], tuple[str, str, None]]:
    def request_for(i: int) -> tuple[str, str, None]:
        q = {"q": queries[i % len(queries)], "site": site_name(i % sites), **params}
        return "GET", f"{url}/search?{urlencode(q)}", None

    return request_for


async def _check(url: str, queries: list[str], cases: list[Case]) -> None:
    """Every case answers 200, in the mode asked, before anything is timed."""
    async with aiohttp.ClientSession() as http:
        for case in cases:
            q = {"q": queries[0], "site": site_name(0), **case.params}
            async with http.get(f"{url}/search?{urlencode(q)}") as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"{case.name}: {resp.status} {body}")
                if case.params.get("mode") and body.get("modeUsed") != case.params["mode"]:
                    raise RuntimeError(f"{case.name}: searched as {body.get('modeUsed')}")


def _median_run(runs: list[LoadResult]) -> LoadResult:
    return sorted(runs, key=lambda r: r.p50_ms)[len(runs) // 2]


async def measure(
    data: SearchData, root: Path, runs: int, cache: str, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    env = {"SEARCH_CACHE_ENTRIES": "0"} if cache == "off" else {}
    queries, tag = await _queries(data, SEQUENTIAL)
    out: list[dict[str, Any]] = []
    async with _api(data, root / f"cache-{cache}", env) as url:
        await _check(url, queries, _cases(tag))
        cases = [(c, 1, SEQUENTIAL) for c in _cases(tag)]
        cases.append((Case("hybrid", {"mode": "hybrid"}), CLIENTS, CONCURRENT))
        for case, clients, total in cases:
            # Off: each run asks queries no earlier run asked (an offset into a longer
            # list would exhaust it; a distinct limit makes each answer new instead).
            results = []
            for run in range(runs):
                params = dict(case.params)
                if cache == "off":
                    params["limit"] = str(10 + run)
                request_for = _request(url, queries, data.sites, params)
                if cache == "on":  # warm: every answer asked once before timing
                    await run_load("warm", request_for, total=len(queries), concurrency=4)
                results.append(
                    await run_load(case.name, request_for, total=total, concurrency=clients)
                )
            best = _median_run(results)
            row = {
                "case": case.name,
                "cache": cache,
                "clients": clients,
                "p50_ms": best.p50_ms,
                "p90_ms": best.p90_ms,
                "p99_ms": best.p99_ms,
                "rps": round(best.throughput_rps, 1),
                "p50_runs": [r.p50_ms for r in results],
                "statuses": best.statuses,
            }
            out.append(row)
            log(json.dumps(row))
    return out


def table(rows: list[dict[str, Any]], data: SearchData) -> str:
    lines = [
        f"`/search` over {data.sites} sites x {data.revisions} revisions of {data.posts:,} posts "
        f"(median of runs; p50 of each run in brackets)",
        "",
        "| case | answer cache | clients | p50 ms | p90 ms | p99 ms | req/s | p50 per run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = ", ".join(f"{v:.1f}" for v in r["p50_runs"])
        lines.append(
            f"| {r['case']} | {r['cache']} | {r['clients']} | {r['p50_ms']:.1f} | "
            f"{r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['rps']:.0f} | {runs} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace, root: Path) -> int:
    shape = {"sites": args.sites, "revisions": args.revisions, "posts": args.posts}
    data = await prepare(args.pgdata, root / "work", **shape)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for cache in args.cache:
        rows += await measure(data, root, args.runs, cache, lambda line: print(line, flush=True))
    print(table(rows, data))
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"data": asdict(data), "rows": rows}, indent=2))
    return 0 if all(set(r["statuses"]) == {"200"} for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pgdata",
        type=Path,
        default=Path(tempfile.gettempdir()) / "pressroom-search-bench-pg",
        help="the bench database's data dir (built on first use, then reused)",
    )
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--revisions", type=int, default=3)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pressroom-search-bench-", dir=args.scratch))
    root.chmod(0o755)  # pgserver's Postgres user reaches the data dir under it
    return asyncio.run(run(args, root))


if __name__ == "__main__":
    sys.exit(main())
