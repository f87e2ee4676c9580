"""`GET /jobs/{jobId}` under load: a finished job and a running one, with the worker running
and with it stopped, at 16 closed-loop clients on loopback (issue 13: >= 500 req/s finished,
>= 200 req/s running, correct with no worker).

Its own embedded stack (bench/stack.py: Temporal dev server, Postgres) and Pressroom's worker
and API as real processes (bench/services.py). The running job is a real one, held at the
start of its `load-database` step by the fault point (`PRESSROOM_FAULT_HOLD`), so it has
progress to show: steps done, counts, its revision. Each case is run `--runs` times; the table
shows the run with the median throughput. Two reference rows: the path `GET /jobs` took before
(one `describe()` and one `progress` query through a worker, from the Temporal client), and
answers that no cache can help (distinct pending jobs, each asked once).

    .venv/bin/python -m bench.job_status                # or: make bench-jobs
    .venv/bin/python -m bench.job_status --requests 1000 --runs 1 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
from pressroom.api.jobs import QUERY_TIMEOUT, start_job
from pressroom.api.requests import job_input, parse_job_request
from pressroom.workflows.plans import LOAD_DATABASE
from pressroom.workflows.process_job import ProcessJob
from temporalio.service import RPCError

from bench.generate import generate_corpus
from bench.load import LoadResult, run_load
from bench.scenarios import Scenario
from bench.services import Services, post_job
from bench.stack import Stack, bench_stack, stop
from pressroom.config import Settings

CLIENTS = 16
WAIT_S = 300


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _view(http: aiohttp.ClientSession, base: str, job_id: str) -> dict[str, Any]:
    async with http.get(f"{base}/jobs/{job_id}") as resp:
        if resp.status != 200:
            raise RuntimeError(f"GET /jobs/{job_id} answered {resp.status}")
        return dict(await resp.json())


async def _wait_for(
    http: aiohttp.ClientSession, base: str, job_id: str, done: Any, what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        view = await _view(http, base, job_id)
        if done(view):
            return view
        if view["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"job {job_id} {view['state']}: {view.get('failure')}")
        await asyncio.sleep(0.2)
    raise TimeoutError(f"job {job_id} never {what}")


def _job(corpus: Path, site: str) -> dict[str, Any]:
    return {
        "jobId": f"bench-status-{site}-{uuid.uuid4().hex[:8]}",
        "task": "process-all",
        "data": {"repoUrl": str(corpus), "site": site, "distFolder": site},
    }


async def _median(case: str, url: str, total: int, runs: int) -> LoadResult:
    def request_for(i: int) -> tuple[str, str, dict[str, Any] | None]:
        return "GET", url, None

    results = [
        await run_load(case, request_for, total=total, concurrency=CLIENTS) for _ in range(runs)
    ]
    for r in results:
        if set(r.statuses) != {"200"}:
            raise RuntimeError(f"{case}: answers other than 200: {r.statuses}")
    results.sort(key=lambda r: r.throughput_rps)
    median = results[len(results) // 2]
    _log(
        f"  {case}: {median.throughput_rps} req/s (runs: "
        f"{', '.join(str(r.throughput_rps) for r in results)}), "
        f"p50 {median.p50_ms} ms, p99 {median.p99_ms} ms"
    )
    return median


async def _query_path(stack: Stack, job_id: str, total: int) -> LoadResult:
    """What every `GET /jobs/{id}` did before: describe, then the `progress` query, which a
    worker answers by replaying the job's history (from the Temporal client, no HTTP)."""
    handle = stack.client.get_workflow_handle(job_id)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    counter = iter(range(total))

    async def client() -> None:
        for _ in counter:
            t0 = time.perf_counter()
            try:
                await handle.describe()
                await handle.query(ProcessJob.progress, rpc_timeout=QUERY_TIMEOUT)
                statuses["ok"] += 1
            except RPCError as err:  # the old path timed out under load (5 s in the API)
                statuses[err.status.name] += 1
            latencies.append((time.perf_counter() - t0) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    seconds = time.perf_counter() - start
    ordered = sorted(latencies)
    return LoadResult(
        case="previous path: describe + progress query (finished job, worker running)",
        requests=total,
        concurrency=CLIENTS,
        seconds=round(seconds, 3),
        throughput_rps=round(total / seconds, 1),
        p50_ms=round(statistics.median(ordered), 2),
        p90_ms=round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        p99_ms=round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        max_ms=round(ordered[-1], 2),
        statuses=dict(statuses),
    )


async def _uncached(stack: Stack, base: str, corpus: Path, count: int) -> LoadResult:
    """Distinct pending jobs (on a queue no worker polls), each asked once: every answer is
    one describe() and one JSON encoding, the floor under the cache."""
    settings = Settings(temporal_address=stack.temporal_address)
    ids = []
    for i in range(count):
        body = _job(corpus, f"pending-{i}")
        request, parsed = parse_job_request(json.dumps(body).encode())
        await start_job(stack.client, job_input(request, parsed, settings), "bench-nobody")
        ids.append(body["jobId"])

    def request_for(i: int) -> tuple[str, str, dict[str, Any] | None]:
        return "GET", f"{base}/jobs/{ids[i]}", None

    return await run_load(
        "pending jobs, each asked once (no cache hit)",
        request_for,
        total=count,
        concurrency=CLIENTS,
    )


async def bench(requests: int, runs: int, posts: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    async with bench_stack() as stack:
        corpus = generate_corpus(stack.root / "corpus", posts=posts)
        release = stack.root / "release"
        release.touch()  # no hold until the running job
        env = {
            "EMBEDDING_PROVIDER": "hashing",
            "PRESSROOM_FAULT_HOLD": LOAD_DATABASE,
            "PRESSROOM_FAULT_RELEASE": str(release),
            "WORKER_SHUTDOWN_GRACE_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
        rows: list[LoadResult] = []
        async with (
            Services(stack, Scenario("job-status", posts, "local"), env) as services,
            aiohttp.ClientSession() as http,
        ):
            base = services.base
            finished = _job(corpus, "finished")
            await post_job(http, base, finished)
            done = await _wait_for(
                http, base, finished["jobId"], lambda v: v["state"] == "completed", "completed"
            )
            _log(f"finished job {finished['jobId']}: {done['counts'].get('posts')} posts")
            release.unlink()
            running = _job(corpus, "running")
            await post_job(http, base, running)
            await _wait_for(
                http,
                base,
                running["jobId"],
                lambda v: v.get("currentStep") == LOAD_DATABASE,
                f"reached {LOAD_DATABASE}",
            )
            _log(f"running job {running['jobId']}: held at {LOAD_DATABASE}")
            cases = (("finished", finished["jobId"]), ("running", running["jobId"]))
            for worker in ("worker running", "worker stopped"):
                if worker == "worker stopped":
                    assert services.worker is not None
                    await stop(services.worker)
                    services.worker = None
                for kind, job_id in cases:
                    case = f"{kind} job, {worker}"
                    rows.append(await _median(case, f"{base}/jobs/{job_id}", requests, runs))
                if worker == "worker running":
                    rows.append(await _query_path(stack, finished["jobId"], min(requests, 500)))
                    _log(
                        f"  {rows[-1].case}: {rows[-1].throughput_rps} req/s ({rows[-1].statuses})"
                    )
            # With no worker: the answers are still whole.
            view = await _view(http, base, finished["jobId"])
            assert view["state"] == "completed" and view["result"]["counts"], view
            view = await _view(http, base, running["jobId"])
            assert view["state"] == "running" and view["currentStep"] == LOAD_DATABASE, view
            rows.append(await _uncached(stack, base, corpus, min(requests, 1000)))
            _log(f"  {rows[-1].case}: {rows[-1].throughput_rps} req/s")
    return {
        # The machine's 1-minute load average before and after: other work on its cores.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "clients": CLIENTS,
        "requests": requests,
        "runs": runs,
        "rows": [asdict(r) for r in rows],
    }


def table(doc: dict[str, Any]) -> str:
    lines = [
        f"`GET /jobs/{{jobId}}`, {doc['clients']} clients on loopback, {doc['requests']} "
        f"requests a case, median of {doc['runs']} runs (load average "
        f"{doc['load_average'][0]} before, {doc['load_average'][1]} after)",
        "",
        "| case | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
    ]
    for r in doc["rows"]:
        failed = sum(n for status, n in r["statuses"].items() if status not in ("200", "ok"))
        note = f" ({failed} of {r['requests']} timed out or failed)" if failed else ""
        lines.append(
            f"| {r['case']}{note} | {r['throughput_rps']} | {r['p50_ms']} | {r['p99_ms']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="requests per case and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--posts", type=int, default=200, help="posts in the generated corpus")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    doc = asyncio.run(bench(args.requests, args.runs, args.posts))
    print(table(doc))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
